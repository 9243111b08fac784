/// The decisions of the agent's plan long-poll loop (`ControllerSession.pollLoop`), without I/O:
/// which controller replica to poll, how long to back off after a failure, and what to log.
///
/// - A replica that cannot serve (no connection, a broken one, no answer within the poll's
///   deadline, or 503) is left at once for the next one in the list; only when every replica
///   failed in a row does the loop back off with `Backoff` (0.5 s doubling up to 30 s) before the
///   next round. With one replica every failure backs off, as before.
/// - An answer the agent cannot use (an error status, a plan the gate refused) is not the
///   replica's fault (they share one database and one key): the loop stays and backs off.
/// - The log gets one line per change of cause, not one per retry, one when the controller
///   answers again, and one naming the replica whenever the answers come from another one.
struct ControllerPollStateMachine {
    enum Action: Equatable {
        case log(String)
        /// Poll `replicas[index]` from now on (status reports follow).
        case moveTo(Int)
        /// Wait this long before the next poll.
        case backOff(Duration)
    }

    let replicas: [String]
    /// The replica polled now (an index into `replicas`).
    private(set) var current = 0
    private(set) var backoff: Backoff
    /// The cause of the failures so far (nil while polls succeed).
    private(set) var failing: String?
    /// Replicas that failed one after the other since the last answer.
    private(set) var failedInARow = 0
    /// The replica that answered last (nil before the first answer).
    private(set) var answered: Int?

    init(replicas: [String], backoff: Backoff = Backoff()) {
        precondition(!replicas.isEmpty, "a poll needs a controller")
        self.replicas = replicas
        self.backoff = backoff
    }

    init(controller: String, backoff: Backoff = Backoff()) {
        self.init(replicas: [controller], backoff: backoff)
    }

    var controller: String { replicas[current] }

    /// A poll was answered (a plan or none): poll again at once.
    mutating func reachable() -> [Action] {
        defer {
            failing = nil
            failedInARow = 0
            answered = current
            backoff.reset()
        }
        if let answered, answered != current {
            return [.log("moved to controller replica \(controller) (from \(replicas[answered]))")]
        }
        return failing == nil ? [] : [.log("controller \(controller) reachable again")]
    }

    /// The replica polled cannot serve (`cause` says why): move to the next one, or back off when
    /// every replica failed in this round; `unit` is the jitter, a random number in [0, 1).
    mutating func replicaDown(_ cause: String, unit: Double) -> [Action] {
        failedInARow += 1
        guard replicas.count > 1 else { return backOff(cause, unit: unit) }
        let next = (current + 1) % replicas.count
        let news = cause != failing
        failing = cause
        current = next
        if failedInARow % replicas.count != 0 {
            return (news ? [.log("\(cause); moving to controller replica \(controller)")] : []) + [.moveTo(next)]
        }
        let delay = backoff.next(unit: unit)
        let line =
            "\(cause); every controller replica failed, trying \(controller) in \(ControllerSession.seconds(delay))"
        return (news ? [.log(line)] : []) + [.moveTo(next), .backOff(delay)]
    }

    /// An answer the agent cannot use (`cause`): stay on this replica and back off.
    mutating func unusableAnswer(_ cause: String, unit: Double) -> [Action] { backOff(cause, unit: unit) }

    private mutating func backOff(_ cause: String, unit: Double) -> [Action] {
        let delay = backoff.next(unit: unit)
        defer { failing = cause }
        let wait = Action.backOff(delay)
        guard cause != failing else { return [wait] }
        return [.log("\(cause); retrying with backoff (next in \(ControllerSession.seconds(delay)))"), wait]
    }
}
