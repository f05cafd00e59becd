/// A unique job's key (`solo push --unique KEY`, solo-queue(5) "UNIQUE JOBS"): while a job of
/// a queue holds it, another job with it is refused as a duplicate.
public enum UniqueKey {
    public static let maximumLength = 512

    /// Why `key` cannot be a unique key (it also names a Redis key and shows in `solo queue
    /// list`), or nil.
    public static func problem(_ key: String) -> String? {
        if key.isEmpty { return "is empty" }
        if key.utf8.count > maximumLength { return "is longer than \(maximumLength) bytes" }
        if key.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) { return "has a control character (a line break, a tab)" }
        return nil
    }

    /// The key of `--unique-payload`: the payload's SHA-1 in lowercase hex, which any program
    /// can compute to push the same job with the same key.
    public static func of(payload: UnsafeRawBufferPointer) -> String { SHA1.hex(bytes: Array(payload)) }
}
