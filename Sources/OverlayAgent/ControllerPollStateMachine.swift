/// The decisions of the agent's plan long-poll loop (`ControllerSession.pollLoop`), without I/O:
/// how long to back off after a failure, and what to log. A failure (the controller unreachable,
/// an error answer, a refused plan) backs off with `Backoff`, 0.5 s doubling up to 30 s; the log
/// gets one line per change of cause, not one per retry, and one when the controller answers again.
struct ControllerPollStateMachine {
    enum Action: Equatable {
        case log(String)
        /// Wait this long before the next poll.
        case backOff(Duration)
    }

    let controller: String
    private(set) var backoff: Backoff
    /// The cause of the failures so far (nil while polls succeed).
    private(set) var failing: String?

    init(controller: String, backoff: Backoff = Backoff()) {
        self.controller = controller
        self.backoff = backoff
    }

    /// A poll was answered (a plan or none): poll again at once.
    mutating func reachable() -> [Action] {
        defer {
            failing = nil
            backoff.reset()
        }
        return failing == nil ? [] : [.log("controller \(controller) reachable again")]
    }

    /// A poll failed with `cause`; `unit` is the jitter, a random number in [0, 1).
    mutating func unreachable(_ cause: String, unit: Double) -> [Action] {
        let delay = backoff.next(unit: unit)
        defer { failing = cause }
        let wait = Action.backOff(delay)
        guard cause != failing else { return [wait] }
        return [.log("\(cause); retrying with backoff (next in \(ControllerSession.seconds(delay)))"), wait]
    }
}
