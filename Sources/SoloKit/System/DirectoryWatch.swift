import CSoloSpawn

/// inotify over a few directories: says which file names were written, created, moved or
/// deleted. The queue uses it to learn that another process committed jobs, instead of
/// polling, and that a queue file was deleted or replaced.
public final class DirectoryWatch {
    public let descriptor: FileDescriptor
    private var buffer = [UInt8](repeating: 0, count: 16384)

    public init() throws(Errno) {
        var fd: Int32 = -1
        try check(solo_inotify_init(&fd))
        descriptor = FileDescriptor(rawValue: fd)
    }

    deinit { descriptor.close() }

    public func watch(_ directory: String) throws(Errno) {
        var wd: Int32 = 0
        let mask = UInt32(SOLO_IN_MODIFY | SOLO_IN_CLOSE_WRITE | SOLO_IN_MOVED_TO | SOLO_IN_CREATE | SOLO_IN_MOVED_FROM | SOLO_IN_DELETE)
        try check(solo_inotify_watch(descriptor.rawValue, directory, mask, &wd))
    }

    /// The names in every pending event (struct inotify_event: wd, mask, cookie, len, name).
    public func drain() -> [String] {
        var names: [String] = []
        while case .bytes(let n)? = try? descriptor.read(into: &buffer) {
            var offset = 0
            while offset + 16 <= n {
                let length = buffer.withUnsafeBytes { Int($0.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self)) }
                let name = buffer[(offset + 16)..<min(n, offset + 16 + length)].prefix { $0 != 0 }
                names.append(String(decoding: name, as: UTF8.self))
                offset += 16 + length
            }
        }
        return names
    }
}
