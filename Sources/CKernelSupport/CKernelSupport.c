// The functions are static inline in the header; this file makes the target a C library.
#include "CKernelSupport.h"

static _Thread_local long thread_slot = -1;

long swiftnn_thread_slot(void) { return thread_slot; }
void swiftnn_set_thread_slot(long slot) { thread_slot = slot; }
