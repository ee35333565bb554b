# Berth sandboxes hide debugpy from the kernel: importing it slows every kernel start, and its
# debugger cannot be reached from outside a sandbox anyway. ipykernel then runs without a debugger.
raise ImportError("debugpy is not available in Berth sandboxes")
