// deem-scalar-lifetimes FOLDER...: applies ScalarLifetimes.KeepAlive to every TorchSharp.dll under each folder.
// Errors use MSBuild's canonical format, so the build shows them as errors naming the file.
using Deem.Build;

int failures = 0;
foreach (var folder in args)
{
    if (!Directory.Exists(folder)) continue;
    foreach (var dll in Directory.EnumerateFiles(folder, "TorchSharp.dll", SearchOption.AllDirectories))
    {
        try
        {
            Console.WriteLine($"DeemSharp: Scalar lifetimes in {dll}: {ScalarLifetimes.KeepAlive(dll)}");
        }
        catch (Exception e) when (e is IOException or BadImageFormatException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"{dll} : error DEEM0001: cannot keep TorchSharp's Scalars alive: {e.Message}");
            failures++;
        }
    }
}
return failures == 0 ? 0 : 1;
