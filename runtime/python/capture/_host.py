"""Python hosts .NET: `import capture` in a plain python3.11 (scripts, pytest, Jupyter) loads Capture's
.NET runtime into this process through .NET's hosting library (libhostfxr) and attaches it to the
interpreter that is already running. Under `./capture run` the runtime is there already and this file
is not used.

The runtime is the one `./capture` built: runtime/Capture.Cli/bin/Release/net10.0 (its .deps.json
names every assembly, so they all load into the default load context).
"""

import ctypes
import glob
import os
import re

# hostfxr_delegate_type.hdt_get_function_pointer (hostfxr.h)
_HDT_GET_FUNCTION_POINTER = 6
# get_function_pointer's delegate_type_name for an [UnmanagedCallersOnly] method
_UNMANAGED_CALLERS_ONLY = ctypes.c_void_p(-1)
_BUILD_DIR = os.path.join("runtime", "Capture.Cli", "bin", "Release", "net10.0")
_APP = "Capture.Cli.dll"


class _InitializeParameters(ctypes.Structure):
    _fields_ = [("size", ctypes.c_size_t), ("host_path", ctypes.c_char_p), ("dotnet_root", ctypes.c_char_p)]


def root():
    """The repository this package belongs to (CAPTURE_HOME overrides): it holds the built runtime."""
    home = os.environ.get("CAPTURE_HOME")
    if home:
        return os.path.abspath(home)
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _version_key(path):
    return tuple(int(part) if part.isdigit() else -1 for part in re.split(r"[.-]", os.path.basename(os.path.dirname(path))))


def find_hostfxr():
    """libhostfxr.so of the newest installed .NET host: CAPTURE_HOSTFXR, then DOTNET_ROOT, then the
    usual install folders."""
    explicit = os.environ.get("CAPTURE_HOSTFXR")
    if explicit:
        return explicit
    roots = [os.environ.get("DOTNET_ROOT"), "/usr/share/dotnet", "/usr/lib/dotnet", "/usr/local/share/dotnet",
             os.path.expanduser("~/.dotnet")]
    for dotnet_root in roots:
        if not dotnet_root:
            continue
        found = glob.glob(os.path.join(dotnet_root, "host", "fxr", "*", "libhostfxr.so"))
        if found:
            return max(found, key=_version_key)
    raise ImportError(
        "capture: cannot find .NET's hosting library (host/fxr/*/libhostfxr.so under /usr/share/dotnet, "
        "DOTNET_ROOT or ~/.dotnet): install the .NET 10 SDK, or set CAPTURE_HOSTFXR to the file")


def _check(status, what):
    if status != 0:
        raise ImportError(f"capture: {what} failed with status 0x{status & 0xFFFFFFFF:08x} (see .NET's hosting error codes)")


def load():
    """Loads the runtime, attaches it to this interpreter, and returns the `_capture_native` module."""
    home = root()
    app = os.path.join(home, _BUILD_DIR, _APP)
    if not os.path.exists(app):
        raise ImportError(
            f"capture: the runtime is not built ({app} is missing): run `{os.path.join(home, 'capture')} test` "
            f"or `{os.path.join(home, 'capture')} run FILE.py` once, which builds it")
    os.environ.setdefault("CAPTURE_HOME", home)
    # count calls for tiered compilation from the start (see the `capture` script), read when .NET starts
    os.environ.setdefault("DOTNET_TC_CallCountingDelayMs", "0")
    hostfxr_path = find_hostfxr()
    hostfxr = ctypes.CDLL(hostfxr_path)
    errors = []
    writer = ctypes.CFUNCTYPE(None, ctypes.c_char_p)(lambda message: errors.append(message.decode("utf-8", "replace")))
    hostfxr.hostfxr_set_error_writer.restype = ctypes.c_void_p
    hostfxr.hostfxr_set_error_writer.argtypes = [ctypes.c_void_p]
    hostfxr.hostfxr_set_error_writer(ctypes.cast(writer, ctypes.c_void_p))
    try:
        handle = ctypes.c_void_p()
        dotnet_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(hostfxr_path))))
        parameters = _InitializeParameters(ctypes.sizeof(_InitializeParameters), app.encode(), dotnet_root.encode())
        argv = (ctypes.c_char_p * 1)(app.encode())
        initialize = hostfxr.hostfxr_initialize_for_dotnet_command_line
        initialize.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(_InitializeParameters),
                               ctypes.POINTER(ctypes.c_void_p)]
        status = initialize(1, argv, ctypes.byref(parameters), ctypes.byref(handle))
        # 1 and 2: Success_HostAlreadyInitialized / Success_DifferentRuntimeProperties (loaded before)
        if status not in (0, 1, 2):
            raise ImportError(f"capture: loading .NET for {app} failed (0x{status & 0xFFFFFFFF:08x}): "
                              + (" ".join(errors) or "no message from hostfxr"))
        try:
            delegate = ctypes.c_void_p()
            hostfxr.hostfxr_get_runtime_delegate.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)]
            _check(hostfxr.hostfxr_get_runtime_delegate(handle, _HDT_GET_FUNCTION_POINTER, ctypes.byref(delegate)),
                   "hostfxr_get_runtime_delegate")
        finally:
            hostfxr.hostfxr_close.argtypes = [ctypes.c_void_p]
            hostfxr.hostfxr_close(handle)
        get_function_pointer = ctypes.CFUNCTYPE(
            ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_void_p))(delegate.value)
        entry = ctypes.c_void_p()
        _check(get_function_pointer(b"Capture.Runtime.PythonHost, Capture.Runtime", b"Attach", _UNMANAGED_CALLERS_ONLY,
                                    None, None, ctypes.byref(entry)), "finding Capture.Runtime.PythonHost.Attach")
    finally:
        hostfxr.hostfxr_set_error_writer(None)
    attach = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.c_int)(entry.value)
    message = ctypes.create_string_buffer(4096)
    if attach(message, len(message)) != 0:
        raise ImportError("capture: " + message.value.decode("utf-8", "replace"))
    import _capture_native
    return _capture_native
