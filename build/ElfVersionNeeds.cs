// Reads and edits the GNU symbol-version requirements (.gnu.version_r) of an ELF shared object.
//
// Why: TorchSharp-cpu 0.107.0 ships libLibTorchSharp.so linked against GCC 13's libstdc++. It
// requires the version GLIBCXX_3.4.32 for exactly one symbol, std::ios_base_library_init, which
// GCC 13 emits only as a version anchor. Debian 12 has GCC 12's libstdc++ (up to GLIBCXX_3.4.30),
// so the dynamic loader refuses the library. Marking that one requirement VER_FLG_WEAK (0x2) tells
// the loader a missing version is not fatal; with a libstdc++ that has the version, nothing changes.
//
// This one file is compiled twice: into the MSBuild inline task of build/TorchNative.targets (which
// patches every build and publish output), and into the Deem library (for `deem doctor` and tests).
// Layouts follow the System V gABI and the LSB "Symbol Versioning" chapter:
//   Elf64_Verneed  { u16 vn_version; u16 vn_cnt; u32 vn_file; u32 vn_aux; u32 vn_next; }   16 bytes
//   Elf64_Vernaux  { u32 vna_hash; u16 vna_flags; u16 vna_other; u32 vna_name; u32 vna_next; } 16 bytes
// (the 32-bit layouts are identical; only the ELF and section headers differ).
#nullable enable
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace Deem.Build
{
    /// <summary>One requirement (Vernaux entry) of .gnu.version_r.</summary>
    public sealed class ElfVersionRequirement
    {
        public ElfVersionRequirement(string file, string version, ushort flags, long flagsOffset)
        {
            File = file; Version = version; Flags = flags; FlagsOffset = flagsOffset;
        }
        /// <summary>The needed library, e.g. libstdc++.so.6.</summary>
        public string File { get; }
        /// <summary>The version name, e.g. GLIBCXX_3.4.32.</summary>
        public string Version { get; }
        /// <summary>vna_flags; bit 0x2 is VER_FLG_WEAK.</summary>
        public ushort Flags { get; }
        /// <summary>File offset of vna_flags.</summary>
        public long FlagsOffset { get; }
        public bool IsWeak => (Flags & ElfVersionNeeds.VerFlagWeak) != 0;
    }

    /// <summary>Thrown when a file is not an ELF object this reader understands.</summary>
    public sealed class ElfFormatException : Exception
    {
        public ElfFormatException(string path, string message) : base(path + ": " + message) { Path = path; }
        public string Path { get; }
    }

    /// <summary>Reader and patcher of ELF version requirements (little-endian, 32 or 64 bit).</summary>
    public static class ElfVersionNeeds
    {
        public const ushort VerFlagWeak = 0x2;
        const uint ShtGnuVerneed = 0x6ffffffe;

        /// <summary>The library and version whose requirement TorchSharp-cpu 0.107.0 cannot meet on GCC 12.</summary>
        public const string LibStdCxx = "libstdc++.so.6";
        public const string Glibcxx3432 = "GLIBCXX_3.4.32";

        /// <summary>Lists every Vernaux entry of the file's .gnu.version_r section (empty if none).</summary>
        public static List<ElfVersionRequirement> Read(string path)
        {
            return Read(System.IO.File.ReadAllBytes(path), path);
        }

        public static List<ElfVersionRequirement> Read(byte[] b, string path)
        {
            if (b.Length < 0x34 || b[0] != 0x7f || b[1] != (byte)'E' || b[2] != (byte)'L' || b[3] != (byte)'F')
                throw new ElfFormatException(path, "not an ELF file (bad magic)");
            bool is64 = b[4] == 2;
            if (b[4] != 1 && b[4] != 2) throw new ElfFormatException(path, "unknown ELF class " + b[4]);
            if (b[5] != 1) throw new ElfFormatException(path, "only little-endian ELF is supported");

            long shoff = is64 ? (long)U64(b, 0x28, path) : U32(b, 0x20, path);
            int shentsize = U16(b, is64 ? 0x3A : 0x2E, path);
            int shnum = U16(b, is64 ? 0x3C : 0x30, path);
            var result = new List<ElfVersionRequirement>();
            for (int i = 0; i < shnum; i++)
            {
                long sh = shoff + (long)i * shentsize;
                uint type = U32(b, sh + 4, path);
                if (type != ShtGnuVerneed) continue;
                long offset = is64 ? (long)U64(b, sh + 0x18, path) : U32(b, sh + 0x10, path);
                int link = (int)U32(b, sh + (is64 ? 0x28 : 0x18), path);
                int count = (int)U32(b, sh + (is64 ? 0x2C : 0x1C), path);
                long strsh = shoff + (long)link * shentsize;
                long strOffset = is64 ? (long)U64(b, strsh + 0x18, path) : U32(b, strsh + 0x10, path);

                long vn = offset;
                for (int n = 0; n < count; n++)
                {
                    int cnt = U16(b, vn + 2, path);
                    string file = CString(b, strOffset + U32(b, vn + 4, path), path);
                    long aux = vn + U32(b, vn + 8, path);
                    for (int a = 0; a < cnt; a++)
                    {
                        ushort flags = U16(b, aux + 4, path);
                        string name = CString(b, strOffset + U32(b, aux + 8, path), path);
                        result.Add(new ElfVersionRequirement(file, name, flags, aux + 4));
                        uint nextAux = U32(b, aux + 12, path);
                        if (nextAux == 0) break;
                        aux += nextAux;
                    }
                    uint next = U32(b, vn + 12, path);
                    if (next == 0) break;
                    vn += next;
                }
            }
            return result;
        }

        /// <summary>
        /// Sets VER_FLG_WEAK on the requirement (file, version) if the file has it.
        /// Returns "absent" (no such requirement: file untouched), "already" (flag set: untouched) or
        /// "patched". The new bytes go to a temp file renamed over the original, so a hard link into
        /// a package cache is broken rather than modified; permissions and timestamp are kept, so an
        /// incremental build sees the file as up to date.
        /// </summary>
        public static string MakeWeak(string path, string file = LibStdCxx, string version = Glibcxx3432)
        {
            ElfVersionRequirement? target = null;
            foreach (var r in Read(path))
                if (r.File == file && r.Version == version) { target = r; break; }
            if (target == null) return "absent";
            if (target.IsWeak) return "already";

            ushort flags = (ushort)(target.Flags | VerFlagWeak);
            var mtime = System.IO.File.GetLastWriteTimeUtc(path);
            string tmp = path + ".weak-tmp";
            // File.Copy makes a new inode with the same permissions; only its two flag bytes change.
            System.IO.File.Copy(path, tmp, overwrite: true);
            using (var fs = new FileStream(tmp, FileMode.Open, FileAccess.Write))
            {
                fs.Seek(target.FlagsOffset, SeekOrigin.Begin);
                fs.WriteByte((byte)(flags & 0xff));
                fs.WriteByte((byte)(flags >> 8));
            }
            System.IO.File.SetLastWriteTimeUtc(tmp, mtime);
            System.IO.File.Replace(tmp, path, null);
            return "patched";
        }

        static ushort U16(byte[] b, long o, string path)
        {
            Check(b, o, 2, path);
            return (ushort)(b[o] | (b[o + 1] << 8));
        }

        static uint U32(byte[] b, long o, string path)
        {
            Check(b, o, 4, path);
            return (uint)(b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24));
        }

        static ulong U64(byte[] b, long o, string path)
        {
            return U32(b, o, path) | ((ulong)U32(b, o + 4, path) << 32);
        }

        static void Check(byte[] b, long o, int n, string path)
        {
            if (o < 0 || o + n > b.Length)
                throw new ElfFormatException(path, "offset " + o + " (+" + n + ") is past the end of the file (" + b.Length + " bytes)");
        }

        static string CString(byte[] b, long o, string path)
        {
            Check(b, o, 1, path);
            long end = o;
            while (end < b.Length && b[end] != 0) end++;
            return Encoding.ASCII.GetString(b, (int)o, (int)(end - o));
        }
    }
}

#if !DEEM_LIBRARY
namespace Deem.Build
{
    using Microsoft.Build.Framework;
    using Microsoft.Build.Utilities;

    /// <summary>MSBuild task: weakens GLIBCXX_3.4.32 in every libLibTorchSharp.so under a folder.</summary>
    public class WeakenGlibcxxVersion : Task
    {
        [Required] public string Directory { get; set; } = "";

        public override bool Execute()
        {
            if (!System.IO.Directory.Exists(Directory)) return true;
            foreach (var lib in System.IO.Directory.EnumerateFiles(Directory, "libLibTorchSharp.so", SearchOption.AllDirectories))
            {
                try
                {
                    string what = ElfVersionNeeds.MakeWeak(lib);
                    Log.LogMessage(what == "patched" ? MessageImportance.High : MessageImportance.Low,
                        "DeemSharp: " + ElfVersionNeeds.Glibcxx3432 + " in " + lib + ": " + what);
                }
                catch (Exception e)
                {
                    Log.LogError("DeemSharp: cannot patch " + lib + ": " + e.Message);
                }
            }
            return !Log.HasLoggedErrors;
        }
    }
}
#endif
