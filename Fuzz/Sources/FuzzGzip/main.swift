import FuzzDriver
import Foundation

// The program's own main hands the input function to libFuzzer, rather than relying on
// libFuzzer's main: SwiftPM's debug builds rename every executable's main (testable
// executables), which would leave libFuzzer's unused.
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
    fuzzGzip(UnsafeRawPointer(data) ?? UnsafeRawPointer(bitPattern: 1)!, size)
})
