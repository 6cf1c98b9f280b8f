import SwiftNN
print("swiftnn")
