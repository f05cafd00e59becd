import Testing
@testable import SoloKit

@Suite struct CommandWordsTests {
    @Test func splitsLikeAShell() throws {
        #expect(try CommandWords.split("php /srv/app/bin/console app:mail-worker").words == ["php", "/srv/app/bin/console", "app:mail-worker"])
        #expect(try CommandWords.split(#"php "my worker.php" --queue='a b'"#).words == ["php", "my worker.php", "--queue=a b"])
        #expect(try CommandWords.split(#"echo "say \"hi\"" it\'s"#).words == ["echo", #"say "hi""#, "it's"])
        #expect(try CommandWords.split("  a   b  ").words == ["a", "b"])
        #expect(try CommandWords.split(#"x "" y"#).words == ["x", "", "y"])
    }

    @Test func flagsShellSyntax() throws {
        #expect(try CommandWords.split("php worker.php > /tmp/out").shellSyntax == ">")
        #expect(try CommandWords.split("sh -c 'a | b'").shellSyntax == nil)
        #expect(try CommandWords.split("run $HOME").shellSyntax == "$")
    }

    @Test func refusesUnclosedQuotes() {
        #expect(throws: ValueError.self) { try CommandWords.split("php 'worker.php") }
        #expect(throws: ValueError.self) { try CommandWords.split(#"php "worker.php"#) }
    }

    @Test func joinRoundTrips() throws {
        for words in [["php", "a b", "it's"], ["sh", "-c", "echo $X | wc -l"], ["x", ""]] {
            #expect(try CommandWords.split(CommandWords.join(words)).words == words)
        }
    }
}
