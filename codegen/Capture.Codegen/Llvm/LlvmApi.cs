using System.Runtime.InteropServices;

namespace Capture.Codegen.Llvm;

// LLVM 16's C API, only the functions Capture uses. Pointers are opaque handles; functions that
// hand back a message (char**) leave it for LlvmApi.Take to copy and free; an LLVMErrorRef is
// turned into its message by LlvmApi.Check. The library is bound by the resolver below: Debian's
// libLLVM-16.so.1 (package libllvm16), or the file $CAPTURE_LLVM_LIBRARY names.
internal static unsafe partial class LlvmApi
{
    private const string Lib = "LLVM-16";

    /// <summary>The shared object loaded for <see cref="Lib"/> (Debian's, or $CAPTURE_LLVM_LIBRARY).</summary>
    internal static string LibraryPath =>
        Environment.GetEnvironmentVariable("CAPTURE_LLVM_LIBRARY") is { Length: > 0 } path ? path : "libLLVM-16.so.1";

    private static readonly Lazy<nint> Handle = new(() =>
        NativeLibrary.TryLoad(LibraryPath, out var handle) ? handle
            : throw new NotSupportedException(
                $"backend='llvm' needs LLVM 16's shared library ({LibraryPath} did not load): install Debian's package libllvm16 " +
                "(apt-get install -y libllvm16); backend='roslyn' and backend='eager' work without it"));

    static LlvmApi() => NativeLibrary.SetDllImportResolver(typeof(LlvmApi).Assembly,
        (name, _, _) => name == Lib ? Handle.Value : 0);

    /// <summary>Loads the library now; throws NotSupportedException naming the Debian package when it is missing.</summary>
    internal static void Load() => _ = Handle.Value;

    // --- messages and errors --------------------------------------------------------------------

    [LibraryImport(Lib)] internal static partial void LLVMDisposeMessage(nint message);
    [LibraryImport(Lib)] internal static partial nint LLVMGetErrorMessage(nint error);
    [LibraryImport(Lib)] internal static partial void LLVMDisposeErrorMessage(nint message);

    /// <summary>Copies and frees a message LLVM allocated (null for none).</summary>
    internal static string? Take(nint message)
    {
        if (message == 0) return null;
        var text = Marshal.PtrToStringUTF8(message);
        LLVMDisposeMessage(message);
        return text;
    }

    /// <summary>Throws an <see cref="LlvmException"/> with the message of a failed LLVMErrorRef.</summary>
    internal static void Check(nint error, string what)
    {
        if (error == 0) return;
        var message = LLVMGetErrorMessage(error);
        var text = Marshal.PtrToStringUTF8(message);
        LLVMDisposeErrorMessage(message);
        throw new LlvmException($"{what}: {text}");
    }

    // --- targets (X86 only: the host this runs on; other hosts fail with LLVM's message) ------------

    [LibraryImport(Lib)] internal static partial void LLVMInitializeX86TargetInfo();
    [LibraryImport(Lib)] internal static partial void LLVMInitializeX86Target();
    [LibraryImport(Lib)] internal static partial void LLVMInitializeX86TargetMC();
    [LibraryImport(Lib)] internal static partial void LLVMInitializeX86AsmPrinter();
    [LibraryImport(Lib)] internal static partial nint LLVMGetDefaultTargetTriple();
    [LibraryImport(Lib)] internal static partial nint LLVMGetHostCPUName();
    [LibraryImport(Lib)] internal static partial nint LLVMGetHostCPUFeatures();
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int LLVMGetTargetFromTriple(string triple, out nint target, out nint error);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial nint LLVMCreateTargetMachine(nint target, string triple, string cpu, string features, int level, int reloc, int codeModel);
    [LibraryImport(Lib)] internal static partial void LLVMDisposeTargetMachine(nint machine);
    [LibraryImport(Lib)] internal static partial nint LLVMCreateTargetDataLayout(nint machine);
    [LibraryImport(Lib)] internal static partial void LLVMDisposeTargetData(nint data);
    [LibraryImport(Lib)] internal static partial int LLVMTargetMachineEmitToMemoryBuffer(nint machine, nint module, int fileType, out nint error, out nint buffer);

    internal const int CodeGenLevelAggressive = 3, RelocStatic = 1, CodeModelLarge = 6, AssemblyFile = 0, ObjectFile = 1;

    // --- contexts, buffers, modules -------------------------------------------------------------

    [LibraryImport(Lib)] internal static partial nint LLVMContextCreate();
    [LibraryImport(Lib)] internal static partial void LLVMContextDispose(nint context);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial nint LLVMCreateMemoryBufferWithMemoryRangeCopy(byte* data, nuint length, string name);
    [LibraryImport(Lib)] internal static partial nint LLVMGetBufferStart(nint buffer);
    [LibraryImport(Lib)] internal static partial nuint LLVMGetBufferSize(nint buffer);
    [LibraryImport(Lib)] internal static partial void LLVMDisposeMemoryBuffer(nint buffer);
    [LibraryImport(Lib)] internal static partial int LLVMParseIRInContext(nint context, nint buffer, out nint module, out nint error);
    [LibraryImport(Lib)] internal static partial int LLVMVerifyModule(nint module, int action, out nint error);
    [LibraryImport(Lib)] internal static partial void LLVMDisposeModule(nint module);
    [LibraryImport(Lib)] internal static partial void LLVMSetModuleDataLayout(nint module, nint layout);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial void LLVMSetTarget(nint module, string triple);
    [LibraryImport(Lib)] internal static partial nint LLVMPrintModuleToString(nint module);

    internal const int VerifierReturnStatus = 2;

    // --- functions and their attributes ---------------------------------------------------------

    [LibraryImport(Lib)] internal static partial nint LLVMGetFirstFunction(nint module);
    [LibraryImport(Lib)] internal static partial nint LLVMGetNextFunction(nint function);
    [LibraryImport(Lib)] internal static partial nint LLVMGetModuleContext(nint module);
    [LibraryImport(Lib)] internal static partial nint LLVMGetStringAttributeAtIndex(nint function, uint index, byte* key, uint length);
    [LibraryImport(Lib)] internal static partial uint LLVMGetEnumAttributeKindForName(byte* name, nuint length);
    [LibraryImport(Lib)] internal static partial void LLVMRemoveEnumAttributeAtIndex(nint function, uint index, uint kind);
    [LibraryImport(Lib)] internal static partial nint LLVMCreateEnumAttribute(nint context, uint kind, ulong value);
    [LibraryImport(Lib)] internal static partial void LLVMAddAttributeAtIndex(nint function, uint index, nint attribute);

    /// <summary>LLVMAttributeFunctionIndex: the function's own attributes (not its return value's or a parameter's).</summary>
    internal const uint FunctionIndex = uint.MaxValue;

    // --- the new pass manager -------------------------------------------------------------------

    [LibraryImport(Lib)] internal static partial nint LLVMCreatePassBuilderOptions();
    [LibraryImport(Lib)] internal static partial void LLVMDisposePassBuilderOptions(nint options);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial nint LLVMRunPasses(nint module, string passes, nint machine, nint options);

    // --- ORC LLJIT ------------------------------------------------------------------------------

    [LibraryImport(Lib)] internal static partial nint LLVMOrcCreateLLJIT(out nint jit, nint builder);
    [LibraryImport(Lib)] internal static partial nint LLVMOrcDisposeLLJIT(nint jit);
    [LibraryImport(Lib)] internal static partial nint LLVMOrcLLJITGetMainJITDylib(nint jit);
    [LibraryImport(Lib)] internal static partial byte LLVMOrcLLJITGetGlobalPrefix(nint jit);
    [LibraryImport(Lib)] internal static partial nint LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(out nint generator, byte globalPrefix, nint filter, nint filterContext);
    [LibraryImport(Lib)] internal static partial void LLVMOrcJITDylibAddGenerator(nint dylib, nint generator);
    [LibraryImport(Lib)] internal static partial nint LLVMOrcLLJITAddObjectFile(nint jit, nint dylib, nint objectBuffer);
    [LibraryImport(Lib)] internal static partial nint LLVMOrcLLJITAddObjectFileWithRT(nint jit, nint tracker, nint objectBuffer);
    [LibraryImport(Lib)] internal static partial nint LLVMOrcJITDylibCreateResourceTracker(nint dylib);
    [LibraryImport(Lib)] internal static partial nint LLVMOrcResourceTrackerRemove(nint tracker);
    [LibraryImport(Lib)] internal static partial void LLVMOrcReleaseResourceTracker(nint tracker);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial nint LLVMOrcLLJITLookup(nint jit, out ulong address, string name);
}

/// <summary>A failure LLVM reported (a parse or verifier error, a JIT link error), with LLVM's message.</summary>
public sealed class LlvmException(string message) : Exception(message);
