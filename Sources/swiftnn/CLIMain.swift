import ArgumentParser
import Foundation

extension SwiftNNCommand {
    /// Entry point: like ArgumentParser's default, except that usage errors (unknown flags, values
    /// that do not parse) print one line instead of the usage block, as for every other bad input.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            // Help, version and errors our commands already reported keep the default handling.
            if code == .success || error is ExitCode { exit(withError: error) }
            let message = self.message(for: error).split(whereSeparator: \.isNewline).first.map(String.init) ?? "\(error)"
            FileHandle.standardError.write(Foundation.Data("error: \(message) (see 'swiftnn --help')\n".utf8))
            Foundation.exit(code.rawValue)
        }
    }
}
