using System.Text;
using Deem.Build;

namespace Deem.Tests.Build;

/// <summary>
/// The libstdc++ patch on hand-built ELF files: only the named requirement changes, only its
/// weak bit, and a second run changes nothing.
/// </summary>
public class ElfVersionNeedsTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("deem-elf-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>
    /// A minimal little-endian ELF64 with three sections: null, .dynstr and .gnu.version_r. The
    /// version_r section needs libc.so.6 (GLIBC_2.34) and libstdc++.so.6 (the given versions).
    /// </summary>
    static byte[] BuildElf(params string[] cxxVersions)
    {
        var strtab = new MemoryStream();
        strtab.WriteByte(0);
        int Str(string s) { int at = (int)strtab.Length; strtab.Write(Encoding.ASCII.GetBytes(s)); strtab.WriteByte(0); return at; }
        int libc = Str("libc.so.6"), glibc = Str("GLIBC_2.34"), cxx = Str("libstdc++.so.6");
        var names = cxxVersions.Select(Str).ToArray();
        byte[] str = strtab.ToArray();

        // .gnu.version_r: Verneed(libc) + 1 aux, Verneed(libstdc++) + n aux; 16 bytes each.
        var vr = new MemoryStream();
        var w = new BinaryWriter(vr);
        void Verneed(int file, int cnt, uint next) { w.Write((ushort)1); w.Write((ushort)cnt); w.Write((uint)file); w.Write(16u); w.Write(next); }
        void Vernaux(int name, ushort other, uint next) { w.Write(0x12345678u); w.Write((ushort)0); w.Write(other); w.Write((uint)name); w.Write(next); }
        Verneed(libc, 1, 32);
        Vernaux(glibc, 2, 0);
        Verneed(cxx, names.Length, 0);
        for (int i = 0; i < names.Length; i++) Vernaux(names[i], (ushort)(3 + i), i + 1 < names.Length ? 16u : 0u);
        byte[] verneed = vr.ToArray();

        const int ehsize = 64, shentsize = 64;
        int strOff = ehsize, vrOff = strOff + str.Length, shoff = vrOff + verneed.Length;
        var f = new MemoryStream();
        var b = new BinaryWriter(f);
        b.Write(new byte[] { 0x7f, (byte)'E', (byte)'L', (byte)'F', 2, 1, 1, 0 }); b.Write(new byte[8]);
        b.Write((ushort)3); b.Write((ushort)62); b.Write(1u); b.Write(0UL); b.Write(0UL);
        b.Write((ulong)shoff); b.Write(0u); b.Write((ushort)ehsize); b.Write((ushort)56); b.Write((ushort)0);
        b.Write((ushort)shentsize); b.Write((ushort)3); b.Write((ushort)1);
        b.Write(str); b.Write(verneed);
        void Section(uint type, ulong off, ulong size, uint link, uint info)
        {
            b.Write(0u); b.Write(type); b.Write(0UL); b.Write(0UL); b.Write(off); b.Write(size);
            b.Write(link); b.Write(info); b.Write(1UL); b.Write(0UL);
        }
        Section(0, 0, 0, 0, 0);
        Section(3, (ulong)strOff, (ulong)str.Length, 0, 0);
        Section(0x6ffffffe, (ulong)vrOff, (ulong)verneed.Length, 1, 2);
        return f.ToArray();
    }

    string Write(string name, byte[] bytes)
    {
        string p = Path.Combine(dir, name);
        File.WriteAllBytes(p, bytes);
        return p;
    }

    [Fact]
    public void ReadsEveryRequirement()
    {
        var path = Write("a.so", BuildElf("GLIBCXX_3.4.30", "GLIBCXX_3.4.32"));
        var reqs = ElfVersionNeeds.Read(path);
        Assert.Equal(new[] { "GLIBC_2.34", "GLIBCXX_3.4.30", "GLIBCXX_3.4.32" }, reqs.Select(r => r.Version));
        Assert.Equal(new[] { "libc.so.6", "libstdc++.so.6", "libstdc++.so.6" }, reqs.Select(r => r.File));
        Assert.All(reqs, r => Assert.False(r.IsWeak));
    }

    [Fact]
    public void PatchSetsOnlyTheWeakBitOfTheOneEntryAndIsIdempotent()
    {
        byte[] original = BuildElf("GLIBCXX_3.4.30", "GLIBCXX_3.4.32", "CXXABI_1.3.13");
        var path = Write("b.so", original);
        var stamp = new DateTime(2024, 5, 6, 7, 8, 9, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(path, stamp);

        Assert.Equal("patched", ElfVersionNeeds.MakeWeak(path));
        byte[] patched = File.ReadAllBytes(path);
        var changed = Enumerable.Range(0, original.Length).Where(i => original[i] != patched[i]).ToArray();
        var target = ElfVersionNeeds.Read(path).Single(r => r.Version == "GLIBCXX_3.4.32");
        Assert.Equal(new[] { (int)target.FlagsOffset }, changed);
        Assert.Equal(ElfVersionNeeds.VerFlagWeak, target.Flags);
        Assert.All(ElfVersionNeeds.Read(path).Where(r => r.Version != "GLIBCXX_3.4.32"), r => Assert.False(r.IsWeak));
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(path));

        Assert.Equal("already", ElfVersionNeeds.MakeWeak(path));
        Assert.Equal(patched, File.ReadAllBytes(path));
    }

    [Fact]
    public void FileWithoutTheRequirementIsLeftUntouched()
    {
        byte[] original = BuildElf("GLIBCXX_3.4.30");
        var path = Write("c.so", original);
        Assert.Equal("absent", ElfVersionNeeds.MakeWeak(path));
        Assert.Equal(original, File.ReadAllBytes(path));
    }

    [Fact]
    public void PatchBreaksAHardLinkInsteadOfWritingThroughIt()
    {
        var cache = Write("cache.so", BuildElf("GLIBCXX_3.4.32"));
        var output = Path.Combine(dir, "output.so");
        if (!OperatingSystem.IsLinux()) return;
        var ln = System.Diagnostics.Process.Start("ln", new[] { cache, output });
        ln.WaitForExit();
        Assert.Equal(0, ln.ExitCode);

        Assert.Equal("patched", ElfVersionNeeds.MakeWeak(output));
        Assert.True(ElfVersionNeeds.Read(output).Single(r => r.Version == "GLIBCXX_3.4.32").IsWeak);
        Assert.False(ElfVersionNeeds.Read(cache).Single(r => r.Version == "GLIBCXX_3.4.32").IsWeak);
    }

    [Fact]
    public void TruncatedOrForeignFilesAreClearErrors()
    {
        var notElf = Write("d.so", Encoding.ASCII.GetBytes("#!/bin/sh\necho hello world, this is not an ELF file at all\n"));
        var e1 = Assert.Throws<ElfFormatException>(() => ElfVersionNeeds.Read(notElf));
        Assert.Contains("d.so", e1.Message);
        Assert.Contains("bad magic", e1.Message);

        var truncated = Write("e.so", BuildElf("GLIBCXX_3.4.32")[..100]);
        var e2 = Assert.Throws<ElfFormatException>(() => ElfVersionNeeds.Read(truncated));
        Assert.Contains("past the end", e2.Message);
    }
}
