import Foundation

/// A user-facing failure: printed as one line (`error: …`) with a non-zero exit status.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// Prints `error: <message>` on stderr.
func printError(_ error: Error) {
    let text = "\(error)"
    // One line: collapse any embedded newlines.
    let line = text.split(whereSeparator: \.isNewline).joined(separator: " ")
    FileHandle.standardError.write(Foundation.Data("error: \(line)\n".utf8))
}

/// Writes a line to stdout immediately (stdout may be a pipe, where `print` buffers).
func say(_ line: String) {
    FileHandle.standardOutput.write(Foundation.Data((line + "\n").utf8))
}
