import Glibc

/// The pipes of every running worker, watched in the supervisor's epoll set: its stdin (jobs
/// in, in feed mode), its output (stdout and stderr together, for the log) and its control
/// pipe (fd 3, its messages). Here they are made, watched, read, written and closed; what the
/// lines mean is the supervisor's business.
final class WorkerPipes {
    /// The three pipes of a worker about to start: the worker's ends go to it, ours stay.
    struct Ends {
        let stdin: (read: FileDescriptor, write: FileDescriptor)
        let output: (read: FileDescriptor, write: FileDescriptor)
        let control: (read: FileDescriptor, write: FileDescriptor)

        /// The worker's ends, as its descriptors 0, 1, 2 and 3.
        var workers: [FileDescriptor] { [stdin.read, output.write, output.write, control.write] }

        /// Once the worker has its copies.
        func closeWorkers() { [stdin.read, output.write, control.write].forEach { $0.close() } }

        /// When the worker could not be started.
        func closeAll() {
            closeWorkers()
            [stdin.write, output.read, control.read].forEach { $0.close() }
        }
    }

    /// What one read of a pipe gave.
    enum Read {
        /// Lines (and pieces of over-long lines); there may be more.
        case lines([LineBuffer.Piece])
        /// Nothing more for now (or the pipe was closed before).
        case empty
        /// The pipe is closed now (its end of file, or an error), with its unfinished last line.
        case closed([LineBuffer.Piece])
    }

    private(set) var processes: [UInt64: WorkerProcess] = [:]
    private var byPid: [pid_t: UInt64] = [:]
    private let epoll: Epoll
    private var buffer = [UInt8](repeating: 0, count: 65536)

    init(epoll: Epoll) { self.epoll = epoll }

    subscript(worker: UInt64) -> WorkerProcess? { processes[worker] }

    /// The worker whose process this is, while it is unreaped.
    func worker(pid: pid_t) -> UInt64? { byPid[pid] }

    var pids: [pid_t] { Array(byPid.keys) }

    /// Makes a worker's three pipes; on failure none is left open.
    static func make() throws(Errno) -> Ends {
        var opened: [FileDescriptor] = []
        func pipe() throws(Errno) -> (read: FileDescriptor, write: FileDescriptor) {
            let ends = try FileDescriptor.pipe()
            opened += [ends.read, ends.write]
            return ends
        }
        do {
            return Ends(stdin: try pipe(), output: try pipe(), control: try pipe())
        } catch {
            opened.forEach { $0.close() }
            throw error
        }
    }

    /// Takes in a started worker and watches its output and control pipes; a throw leaves it
    /// taken in, unwatched (the caller stops it).
    func add(_ process: WorkerProcess) throws(Errno) {
        processes[process.id] = process
        byPid[process.pid] = process.id
        guard let output = process.output, let control = process.control, let input = process.input else { return }
        try output.setNonBlocking()
        try control.setNonBlocking()
        try input.setNonBlocking()
        try epoll.add(output, token: EpollToken.workerPipe(process.id, .output))
        try epoll.add(control, token: EpollToken.workerPipe(process.id, .control))
    }

    /// Takes a reaped worker out; its pipes stay open for its last words (then `close`).
    func remove(_ worker: UInt64) -> WorkerProcess? {
        guard let process = processes.removeValue(forKey: worker) else { return nil }
        byPid[process.pid] = nil
        return process
    }

    /// Stops watching a worker's pipes and closes them.
    func close(_ process: WorkerProcess) {
        [process.output, process.control, process.inputWatched ? process.input : nil].compactMap { $0 }.forEach { epoll.remove($0) }
        process.closeAll()
    }

    /// One read of the worker's output or control pipe, cut into lines.
    func read(_ pipe: WorkerPipe, of process: WorkerProcess) -> Read {
        let isOutput = pipe == .output
        guard let fd = isOutput ? process.output : process.control else { return .empty }
        switch Result(catching: { () throws(Errno) in try fd.read(into: &buffer) }) {
        case .success(.bytes(let n)):
            return .lines(buffer.withUnsafeBytes { raw in
                let bytes = UnsafeRawBufferPointer(rebasing: raw[0..<n])
                return isOutput ? process.outputLines.append(bytes) : process.controlLines.append(bytes)
            })
        case .success(.wouldBlock):
            return .empty
        case .success(.endOfFile), .failure:
            epoll.remove(fd)
            fd.close()
            if isOutput {
                process.output = nil
                return .closed(process.outputLines.finish())
            }
            process.control = nil
            return .closed(process.controlLines.finish())
        }
    }

    /// Writes what the worker's stdin takes now, and watches it for the rest. False when the
    /// worker closed its stdin (or died): what was still to be written is dropped.
    func writeInput(of process: WorkerProcess) -> Bool {
        guard let input = process.input else { return true }
        var open = true
        while !process.inputPending.isEmpty {
            let written: Int
            do {
                written = try process.inputPending.withUnsafeBytes { raw in Result { () throws(Errno) in try input.writeSome(raw) } }.get()
            } catch {
                process.inputLost += process.inputPending
                process.inputPending.removeAll()
                open = false
                break
            }
            if written == 0 { break }
            process.inputPending.removeFirst(written)
        }
        let wantsWritable = !process.inputPending.isEmpty
        if wantsWritable && !process.inputWatched {
            process.inputWatched = (try? epoll.add(input, token: EpollToken.workerPipe(process.id, .input), readable: false, writable: true)) != nil
        } else if !wantsWritable && process.inputWatched {
            epoll.remove(input)
            process.inputWatched = false
        }
        if !wantsWritable && process.closeInputWhenWritten { closeInput(of: process) }
        return open
    }

    /// Takes `line`, the last thing written to the worker's stdin, back out of it if the worker
    /// has not begun to read it; true if so. What the worker has not read is the pipe's content
    /// and then what waits to be written: it is read out of the pipe through a reader of our own
    /// (the worker's end stays blocking), the line cut off its end, and the rest written back
    /// first: nothing else is written meanwhile, so the worker reads on as if nothing happened.
    /// A line the worker has begun to read (or read whole into its buffer) stays its own.
    func takeBack(_ line: [UInt8], from process: WorkerProcess) -> Bool {
        // Never written: its stdin was closed.
        if process.inputLost.count >= line.count && process.inputLost.suffix(line.count).elementsEqual(line) {
            process.inputLost.removeLast(line.count)
            return true
        }
        guard let input = process.input else { return false }
        // Wholly unwritten: no need to touch the pipe.
        if process.inputPending.count >= line.count && process.inputPending.suffix(line.count).elementsEqual(line) {
            process.inputPending.removeLast(line.count)
            _ = writeInput(of: process)
            return true
        }
        guard let reader = try? input.pipeReader() else { return false }
        defer { reader.close() }
        var unread: [UInt8] = []
        while case .success(.bytes(let n)) = Result(catching: { () throws(Errno) in try reader.read(into: &buffer) }) {
            unread += buffer[0..<n]
        }
        unread += process.inputPending
        let took = unread.count >= line.count && unread.suffix(line.count).elementsEqual(line)
        if took { unread.removeLast(line.count) }
        process.inputPending = unread
        _ = writeInput(of: process)
        return took
    }

    /// EOF on the worker's stdin ("finish and exit"), once what it was sent is written.
    func closeInput(of process: WorkerProcess) {
        guard let input = process.input else { return }
        if !process.inputPending.isEmpty {
            process.closeInputWhenWritten = true
            return
        }
        if process.inputWatched { epoll.remove(input) }
        process.inputWatched = false
        input.close()
        process.input = nil
    }
}
