/// Text that others wrote (workers' output and status lines, payloads, errors), made safe to
/// show on a terminal: a worker running as `nobody` must not be able to retitle or clear
/// root's terminal. Control characters become `\xNN` (ESC is `\x1b`), and so does every byte
/// that is not UTF-8; tabs and UTF-8 text stay as they are, and backslashes are left alone, so
/// escaping escaped text changes nothing. JSON output needs none of this: its strings escape
/// control characters already.
public enum Printable {
    /// `text` with its control characters escaped.
    public static func escape(_ text: String) -> String {
        var copy = text
        return copy.withUTF8 { utf8 in
            guard needsEscaping(UnsafeRawBufferPointer(utf8)) else { return text }
            var output: [UInt8] = []
            append(UnsafeRawBufferPointer(utf8), to: &output)
            return String(decoding: output, as: UTF8.self)
        }
    }

    /// Appends `bytes` to `output` with control characters and bytes that are not UTF-8 escaped.
    public static func append(_ bytes: UnsafeRawBufferPointer, to output: inout [UInt8]) {
        guard needsEscaping(bytes) else { return output.append(contentsOf: bytes) }
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var position = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                let value = Unicode.UTF8.decode(encoded).value
                // C0 controls but tab, DEL, and the C1 controls (U+0080 to U+009F), which some
                // terminals obey too (U+009B is a CSI).
                if (value < 0x20 && value != 0x09) || (0x7F...0x9F).contains(value) {
                    for byte in encoded { appendEscaped(byte, to: &output) }
                } else {
                    output.append(contentsOf: encoded)
                }
                position += encoded.count
            case .error(let length):
                for byte in bytes[position..<position + length] { appendEscaped(byte, to: &output) }
                position += length
            case .emptyInput:
                return
            }
        }
    }

    /// Whether any byte is a control character or outside ASCII (which then needs a closer look).
    private static func needsEscaping(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.contains { ($0 < 0x20 && $0 != 0x09) || $0 >= 0x7F }
    }

    private static func appendEscaped(_ byte: UInt8, to output: inout [UInt8]) {
        let digits = Array("0123456789abcdef".utf8)
        output += [UInt8(ascii: "\\"), UInt8(ascii: "x"), digits[Int(byte >> 4)], digits[Int(byte & 0xF)]]
    }
}
