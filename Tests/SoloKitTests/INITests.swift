import Testing
@testable import SoloKit

@Suite struct INITests {
    @Test func sectionsKeysAndComments() {
        let text = """
            ; a comment
            # another
            [global]
            lock_port = 3800   ; inline comment
            [mailer]
            command = php "a ; b.php" # comment
            environment = A="x # y"
            URL = http://x/#frag
            """
        let (sections, issues) = INI.parse(text, file: "solo.conf")
        #expect(issues.isEmpty)
        #expect(sections.map(\.name) == ["global", "mailer"])
        #expect(sections[0].entries == [INIEntry(key: "lock_port", value: "3800", line: 4)])
        #expect(sections[1].entries.map(\.value) == [#"php "a ; b.php""#, #"A="x # y""#, "http://x/#frag"])
        #expect(sections[1].entries[2].key == "url")
    }

    @Test func syntaxErrorsNameTheLine() {
        let (_, issues) = INI.parse("orphan = 1\n[pool\nnot a pair\n[ok]\n= value", file: "x.conf")
        #expect(issues.map(\.line) == [1, 2, 3, 5])
        #expect(issues[0].description == "x.conf:1: orphan: set outside any section (put it under [global] or a [pool] section)")
        #expect(issues[1].description.contains("no closing ]"))
        #expect(issues[2].description.contains("expected key = value"))
    }
}
