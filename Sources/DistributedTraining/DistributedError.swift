/// A failure of distributed training that comes from outside the program: Open MPI missing or
/// failing, or processes that disagree. Every rank that sees a mismatch throws the same error, so
/// no process is left waiting for the others.
///
/// ```swift
/// do { let group = try initProcessGroup(backend: .mpi) } catch { print(error) }
/// // Open MPI is not available: cannot load Open MPI (libmpi.so.40: cannot open shared object file …)
/// ```
public enum DistributedError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Open MPI could not be loaded or started.
    case unavailable(String)
    /// An MPI call returned an error code.
    case mpi(call: String, code: Int32, message: String)
    /// The processes disagree: different models, shapes or dtypes on different ranks.
    case mismatch(String)
    /// More data than one MPI call can carry (2³¹ − 1 elements).
    case tooLarge(String)

    public var description: String {
        switch self {
        case .unavailable(let why):
            return "Open MPI is not available: \(why). Install it (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev; "
                + "macOS: brew install open-mpi), or set SWIFTNN_LIBMPI to the path of libmpi"
        case .mpi(let call, let code, let message):
            return "\(call) failed (MPI error \(code)): \(message)"
        case .mismatch(let what):
            return what
        case .tooLarge(let what):
            return what
        }
    }
}
