// Keeps TorchSharp's Scalars alive for the whole of every native call that reads them.
//
// Why: TorchSharp 0.107.0 turns every .NET number handed to an op (`x * 0.5`, `t.add_(1)`, and the
// `alpha = 1` that `add_(Scalar)` adds itself) into a Scalar: a managed object with a finalizer that
// frees a native c10::Scalar. The wrapper reads the object's handle and calls into libtorch; the
// optimizing JIT may consider the object dead from that read on. A garbage collection started by
// any other thread during the native call then queues the finalizer, which frees the c10::Scalar
// while libtorch still reads it: "Unknown scalar type" or "Expected false to be true" (Scalar.h).
// A loop of `add_(0.5); mul_(0.5)` beside one allocating thread fails within 100 000 iterations on
// TorchSharp as shipped (tests/Deem.Tests/Build/ScalarLifetimesTests.cs).
//
// The fix: in the *output* copy of TorchSharp.dll (never the package cache), every method that
// takes a Scalar, holds one in a local, or calls a TorchSharp method that returns one gets the
// method-implementation flags NoOptimization | NoInlining. Such a method is compiled without
// optimization and never inlined, and unoptimized code reports every argument and local as live
// until the method returns, so the Scalar outlives the native call. The flags are two bytes of the
// method's row in the MethodDef metadata table (ECMA-335 §II.22.26: RVA u32, ImplFlags u16, Flags u16,
// …); nothing else in the file changes. These are thin wrappers around one native call each, so
// running them unoptimized costs little next to the op itself.
//
// Compiled twice: into the small tool build/ScalarLifetimes (which build/TorchNative.targets runs on every
// build and publish output; an inline task cannot reference System.Reflection.Metadata) and into the Deem
// library (`deem doctor`, tests).
#nullable enable
using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace Deem.Build
{
    /// <summary>What <see cref="ScalarLifetimes.Scan(string)"/> found in one TorchSharp.dll.</summary>
    public sealed class ScalarLifetimeScan
    {
        public ScalarLifetimeScan(IReadOnlyList<string> methods, IReadOnlyList<long> flagOffsets, IReadOnlyList<ushort> flags)
        {
            Methods = methods; FlagOffsets = flagOffsets; Flags = flags;
        }
        /// <summary>"Type.Method" of every method that handles a Scalar (one entry per overload).</summary>
        public IReadOnlyList<string> Methods { get; }
        /// <summary>File offset of each method's ImplFlags.</summary>
        public IReadOnlyList<long> FlagOffsets { get; }
        /// <summary>Each method's ImplFlags as read.</summary>
        public IReadOnlyList<ushort> Flags { get; }

        /// <summary>How many of them already carry both flags.</summary>
        public int Kept
        {
            get
            {
                int n = 0;
                foreach (var f in Flags) if (ScalarLifetimes.KeepsAlive(f)) n++;
                return n;
            }
        }
    }

    /// <summary>Finds and flags the TorchSharp methods whose Scalars must outlive their native calls.</summary>
    public static class ScalarLifetimes
    {
        /// <summary>MethodImplAttributes.NoOptimization (0x40) | NoInlining (0x08).</summary>
        public const ushort KeepAliveFlags = 0x48;

        /// <summary>Whether a method's ImplFlags carry both <see cref="KeepAliveFlags"/>.</summary>
        public static bool KeepsAlive(ushort implFlags) => (implFlags & KeepAliveFlags) == KeepAliveFlags;
        const string ScalarNamespace = "TorchSharp";
        const string ScalarName = "Scalar";

        public static ScalarLifetimeScan Scan(string path) => Scan(File.ReadAllBytes(path), path);

        public static ScalarLifetimeScan Scan(byte[] image, string path)
        {
            try { return ScanImage(image, path); }
            catch (BadImageFormatException e) when (!e.Message.StartsWith(path, StringComparison.Ordinal))
            {
                throw new BadImageFormatException(path + ": " + e.Message, e);
            }
        }

        static ScalarLifetimeScan ScanImage(byte[] image, string path)
        {
            using var pe = new PEReader(ImmutableArray.Create(image));
            if (!pe.HasMetadata) throw new BadImageFormatException(path + ": not a .NET assembly (no metadata)");
            if (pe.PEHeaders.CorHeader!.ManagedNativeHeaderDirectory.Size != 0)
                throw new BadImageFormatException(path + ": a ReadyToRun image (its precompiled code would ignore the flags)");
            var md = pe.GetMetadataReader();

            TypeDefinitionHandle scalar = default;
            foreach (var h in md.TypeDefinitions)
            {
                var t = md.GetTypeDefinition(h);
                if (md.StringComparer.Equals(t.Name, ScalarName) && md.StringComparer.Equals(t.Namespace, ScalarNamespace)) { scalar = h; break; }
            }
            if (scalar.IsNil) throw new BadImageFormatException(path + ": no type TorchSharp.Scalar");
            var provider = new MentionsType(scalar);

            // 1. Methods that return a Scalar (the implicit conversions, ToScalar, …).
            var producers = new HashSet<int>();
            foreach (var h in md.MethodDefinitions)
                if (md.GetMethodDefinition(h).DecodeSignature(provider, null).ReturnType)
                    producers.Add(MetadataTokens.GetRowNumber(h));

            // 2. Methods with a body that take a Scalar, keep one in a local, or call a producer.
            long tableStart = pe.PEHeaders.MetadataStartOffset + md.GetTableMetadataOffset(TableIndex.MethodDef);
            int rowSize = md.GetTableRowSize(TableIndex.MethodDef);
            var names = new List<string>();
            var offsets = new List<long>();
            var flags = new List<ushort>();
            foreach (var h in md.MethodDefinitions)
            {
                var m = md.GetMethodDefinition(h);
                if (m.RelativeVirtualAddress == 0) continue;   // abstract, extern (the P/Invokes themselves)
                var body = pe.GetMethodBody(m.RelativeVirtualAddress);
                bool handles = false;
                foreach (var p in m.DecodeSignature(provider, null).ParameterTypes) handles |= p;
                if (!handles && !body.LocalSignature.IsNil)
                    foreach (var l in md.GetStandaloneSignature(body.LocalSignature).DecodeLocalSignature(provider, null)) handles |= l;
                if (!handles) handles = CallsAny(body.GetILBytes()!, producers);
                if (!handles) continue;

                int row = MetadataTokens.GetRowNumber(h);
                long at = tableStart + (long)(row - 1) * rowSize + 4;   // RVA (u32), then ImplFlags (u16)
                var type = md.GetTypeDefinition(m.GetDeclaringType());
                names.Add(md.GetString(type.Name) + "." + md.GetString(m.Name));
                offsets.Add(at);
                flags.Add((ushort)(image[at] | (image[at + 1] << 8)));
            }
            return new ScalarLifetimeScan(names, offsets, flags);
        }

        /// <summary>
        /// Whether the IL calls (call, callvirt, newobj) one of <paramref name="methodRows"/>. Every byte
        /// offset is tried as an opcode, so a call is never missed; a false match only flags one more method.
        /// </summary>
        static bool CallsAny(byte[] il, HashSet<int> methodRows)
        {
            for (int i = 0; i + 4 < il.Length; i++)
            {
                if (il[i] != 0x28 && il[i] != 0x6F && il[i] != 0x73) continue;
                if (il[i + 4] != 0x06) continue;   // token table: MethodDef
                int row = il[i + 1] | (il[i + 2] << 8) | (il[i + 3] << 16);
                if (methodRows.Contains(row)) return true;
            }
            return false;
        }

        /// <summary>
        /// Sets <see cref="KeepAliveFlags"/> on every method <see cref="Scan(string)"/> finds. Returns
        /// "already" (all set: file untouched) or "patched N methods". The new bytes go to a temp file
        /// renamed over the original, so a hard link into the package cache is broken rather than
        /// modified; the timestamp is kept, so an incremental build sees the file as up to date.
        /// </summary>
        public static string KeepAlive(string path)
        {
            var scan = Scan(path);
            if (scan.Methods.Count == 0) throw new BadImageFormatException(path + ": no method handles a TorchSharp.Scalar");
            var changes = new List<(long Offset, ushort Flags)>();
            for (int i = 0; i < scan.Methods.Count; i++)
                if (!KeepsAlive(scan.Flags[i]))
                    changes.Add((scan.FlagOffsets[i], (ushort)(scan.Flags[i] | KeepAliveFlags)));
            if (changes.Count == 0) return "already";

            var mtime = File.GetLastWriteTimeUtc(path);
            string tmp = path + ".scalar-tmp";
            // As ElfVersionNeeds.MakeWeak: File.Copy makes a new inode with the same permissions; only the flag bytes change.
            File.Copy(path, tmp, overwrite: true);
            using (var fs = new FileStream(tmp, FileMode.Open, FileAccess.Write))
                foreach (var (offset, flags) in changes)
                {
                    fs.Seek(offset, SeekOrigin.Begin);
                    fs.WriteByte((byte)(flags & 0xff));
                    fs.WriteByte((byte)(flags >> 8));
                }
            File.SetLastWriteTimeUtc(tmp, mtime);
            File.Replace(tmp, path, null);
            return "patched " + changes.Count + " methods";
        }

        /// <summary>Decodes a signature to "does this type mention the given type definition".</summary>
        sealed class MentionsType : ISignatureTypeProvider<bool, object?>
        {
            readonly TypeDefinitionHandle target;
            public MentionsType(TypeDefinitionHandle target) { this.target = target; }
            public bool GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind) => handle == target;
            public bool GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind) => false;
            public bool GetTypeFromSpecification(MetadataReader reader, object? context, TypeSpecificationHandle handle, byte rawTypeKind) =>
                reader.GetTypeSpecification(handle).DecodeSignature(this, context);
            public bool GetPrimitiveType(PrimitiveTypeCode typeCode) => false;
            public bool GetSZArrayType(bool elementType) => elementType;
            public bool GetArrayType(bool elementType, ArrayShape shape) => elementType;
            public bool GetByReferenceType(bool elementType) => elementType;
            public bool GetPointerType(bool elementType) => elementType;
            public bool GetPinnedType(bool elementType) => elementType;
            public bool GetModifiedType(bool modifier, bool unmodifiedType, bool isRequired) => unmodifiedType;
            public bool GetGenericInstantiation(bool genericType, ImmutableArray<bool> typeArguments)
            {
                if (genericType) return true;
                foreach (var a in typeArguments) if (a) return true;
                return false;
            }
            public bool GetGenericMethodParameter(object? context, int index) => false;
            public bool GetGenericTypeParameter(object? context, int index) => false;
            public bool GetFunctionPointerType(MethodSignature<bool> signature) => false;
        }
    }
}
