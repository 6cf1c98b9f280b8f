// Only the header matters: it declares libFuzzer's LLVMFuzzerRunDriver for the Swift targets.
#include "FuzzDriver.h"
