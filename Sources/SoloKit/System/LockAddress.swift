/// The loopback address of a port lock. As in the original Perl solo, each user gets an
/// address of its own, 127.(uid>>8).(uid&255).1 (root: 127.0.0.1), so two users may lock the
/// same port number without meeting.
///
/// The original packs the uid into 16 bits, so uid 65537 collided with uid 1. Here a uid above
/// 65535 uses the last octet for its high bits: 127.(uid>>8 & 255).(uid & 255).(2 + (uid>>16) - 1),
/// that is last octets 2...253, which no uid below 65536 uses (they all end in .1). Uids of
/// 253 × 65536 (16,580,608) and above have no address of their own: they must name one
/// (`-addr=` / `lock_addr`).
public enum LockAddress {
    public struct TooLargeUID: Error, CustomStringConvertible {
        public let uid: UInt32
        public var description: String {
            "uid \(uid) is too large for a per-user lock address (use -addr=127.0.0.1 or lock_addr = 127.0.0.1)"
        }
    }

    public static func forUser(_ uid: UInt32) throws(TooLargeUID) -> UInt32 {
        let high = uid >> 16
        guard high <= 252 else { throw TooLargeUID(uid: uid) }
        let last: UInt32 = high == 0 ? 1 : high + 1
        return 127 << 24 | ((uid >> 8) & 255) << 16 | (uid & 255) << 8 | last
    }

    /// Dotted quad to a host-order address.
    public static func parse(_ text: String) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var address: UInt32 = 0
        for part in parts {
            guard part.count <= 3, let octet = UInt32(part), octet <= 255 else { return nil }
            address = address << 8 | octet
        }
        return address
    }

    public static func format(_ address: UInt32) -> String {
        "\(address >> 24).\(address >> 16 & 255).\(address >> 8 & 255).\(address & 255)"
    }
}
