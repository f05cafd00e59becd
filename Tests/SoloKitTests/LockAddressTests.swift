import Glibc
import Testing
@testable import SoloKit

@Suite struct LockAddressTests {
    @Test func perUserAddressesAsTheOriginal() throws {
        #expect(try LockAddress.forUser(0) == 0x7f00_0001)
        #expect(LockAddress.format(try LockAddress.forUser(1000)) == "127.3.232.1")
        #expect(LockAddress.format(try LockAddress.forUser(65534)) == "127.255.254.1")
    }

    @Test func largeUidsDoNotCollide() throws {
        // The Perl original packed 16 bits: uid 65537 took uid 1's address.
        #expect(try LockAddress.forUser(65537) != LockAddress.forUser(1))
        #expect(LockAddress.format(try LockAddress.forUser(65537)) == "127.0.1.2")
        var seen = Set<UInt32>()
        for uid: UInt32 in [0, 1, 255, 256, 65535, 65536, 65537, 100_000, 165_535, 231_072, 1_000_000, 16_580_607] {
            #expect(seen.insert(try LockAddress.forUser(uid)).inserted, "uid \(uid)")
        }
        #expect(throws: LockAddress.TooLargeUID.self) { try LockAddress.forUser(16_580_608) }
    }

    @Test func parsesAndFormats() {
        #expect(LockAddress.parse("127.0.0.1") == 0x7f00_0001)
        #expect(LockAddress.parse("127.0.0") == nil)
        #expect(LockAddress.parse("127.0.0.256") == nil)
        #expect(LockAddress.format(0x7f01_0203) == "127.1.2.3")
    }
}
