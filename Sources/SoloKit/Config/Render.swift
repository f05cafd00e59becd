/// The effective configuration as INI text, every key with its value (defaults filled in):
/// what `solo config check` prints.
public enum ConfigRender {
    public static func render(_ config: SoloConfig) -> String {
        var lines = ["; effective configuration of \(config.file) (defaults filled in)", "[global]"]
        for key in Keys.global {
            lines.append(line(key.name, key.render(config.global)))
        }
        for pool in config.pools {
            lines.append("")
            lines.append("[\(pool.name)]".padding(to: 32) + "; \(pool.file):\(pool.line)")
            for key in Keys.pool where pool.fastcgi == nil || !PoolConfig.isWorkerKey(key.name) {
                lines.append(line(key.name, key.render(pool)))
            }
        }
        for schedule in config.schedules {
            lines.append("")
            lines.append("[schedule:\(schedule.name)]".padding(to: 32) + "; \(schedule.file):\(schedule.line)")
            for key in Keys.schedule {
                lines.append(line(key.name, key.render(schedule)))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func line(_ key: String, _ value: String) -> String {
        key.padding(to: 14) + "= " + value
    }
}

extension String {
    func padding(to width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
