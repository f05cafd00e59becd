import Glibc

/// Users and groups from /etc/passwd and /etc/group, read directly: the static `solo` binary
/// must not call getpwnam (NSS needs the shared glibc it was built against). Accounts known
/// only to NSS (LDAP, sssd) can be given by number.
public struct UserAccount: Equatable, Sendable {
    public var name: String
    public var uid: UInt32
    public var gid: UInt32
    public var home: String
    public var shell: String
}

public struct GroupAccount: Equatable, Sendable {
    public var name: String
    public var gid: UInt32
    public var members: [String]
}

public enum Accounts {
    /// Who this process is: its real user and group.
    public static var ownUID: UInt32 { getuid() }
    public static var ownGID: UInt32 { getgid() }
    /// The effective ones, which decide what this process may open.
    public static var effectiveUID: UInt32 { geteuid() }
    public static var effectiveGID: UInt32 { getegid() }

    public static func parsePasswd(_ text: String) -> [UserAccount] {
        text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 7, !line.hasPrefix("#"), let uid = UInt32(f[2]), let gid = UInt32(f[3]) else { return nil }
            return UserAccount(name: String(f[0]), uid: uid, gid: gid, home: String(f[5]), shell: String(f[6]))
        }
    }

    public static func parseGroup(_ text: String) -> [GroupAccount] {
        text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 4, !line.hasPrefix("#"), let gid = UInt32(f[2]) else { return nil }
            let members = f[3].split(separator: ",").map(String.init)
            return GroupAccount(name: String(f[0]), gid: gid, members: members)
        }
    }

    public static func users() -> [UserAccount] {
        parsePasswd((try? Files.readText("/etc/passwd")) ?? "")
    }

    public static func groups() -> [GroupAccount] {
        parseGroup((try? Files.readText("/etc/group")) ?? "")
    }

    /// A user by name or number.
    public static func user(_ nameOrNumber: String) -> UserAccount? {
        let all = users()
        if let found = all.first(where: { $0.name == nameOrNumber }) { return found }
        if let uid = UInt32(nameOrNumber) {
            return all.first { $0.uid == uid } ?? UserAccount(name: nameOrNumber, uid: uid, gid: uid, home: "/", shell: "/bin/sh")
        }
        return nil
    }

    public static func group(_ nameOrNumber: String) -> GroupAccount? {
        let all = groups()
        if let found = all.first(where: { $0.name == nameOrNumber }) { return found }
        if let gid = UInt32(nameOrNumber) {
            return all.first { $0.gid == gid } ?? GroupAccount(name: nameOrNumber, gid: gid, members: [])
        }
        return nil
    }

    /// The supplementary groups of a user, as initgroups(3) would set them: the primary group
    /// and every group that lists the user.
    public static func supplementaryGroups(of user: UserAccount, primary: UInt32, in groups: [GroupAccount]) -> [UInt32] {
        var ids = [primary]
        for group in groups where group.members.contains(user.name) && !ids.contains(group.gid) {
            ids.append(group.gid)
        }
        return ids
    }
}
