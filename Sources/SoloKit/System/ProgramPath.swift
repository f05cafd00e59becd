import Glibc

/// Finds the program a command names, as execvp would, but before forking: a name with a
/// slash is taken relative to the worker's directory; a bare name is looked up in PATH.
public enum ProgramPath {
    public static let defaultSearchPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    public static func resolve(_ program: String, searchPath: String, directory: String) -> String? {
        if program.contains("/") {
            let path = Path.resolve(program, against: directory)
            return Files.isExecutableFile(path) ? path : nil
        }
        for entry in searchPath.split(separator: ":", omittingEmptySubsequences: false) {
            let base = entry.isEmpty ? directory : Path.resolve(String(entry), against: directory)
            let candidate = base + "/" + program
            if Files.isExecutableFile(candidate) { return candidate }
        }
        return nil
    }
}
