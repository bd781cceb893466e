namespace Deem.Diagnostics.Fuzz;

/// <summary>How one fuzz case ended.</summary>
public enum FuzzOutcome
{
    /// <summary>Accepted, and the result checks out.</summary>
    Ok,
    /// <summary>Rejected with a <see cref="DeemException"/>: the one-line error the user sees.</summary>
    TypedError,
    /// <summary>Any other exception: a stack trace instead of a named error.</summary>
    Crash,
    /// <summary>Accepted, but the result fails the target's check (round trip or byte oracle).</summary>
    WrongResult,
}

/// <summary>
/// One reader under fuzz: valid seed inputs, and a check that feeds it one input. The check throws whatever
/// the reader throws and returns false when an accepted input gives a wrong result.
/// </summary>
public abstract class FuzzTarget : IDisposable
{
    protected FuzzTarget()
    {
        Scratch = Path.Combine(Path.GetTempPath(), $"deem-fuzz-{Name}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Scratch);
    }

    /// <summary>The name used by <c>deem fuzz --target</c>.</summary>
    public abstract string Name { get; }

    /// <summary>Valid inputs the mutations start from; each must give <see cref="FuzzOutcome.Ok"/>.</summary>
    public abstract IReadOnlyList<byte[]> Seeds { get; }

    /// <summary>Feeds <paramref name="input"/> to the reader; false when it is accepted with a wrong result.</summary>
    public abstract bool Check(byte[] input);

    /// <summary>A folder of this target's own, deleted on dispose.</summary>
    protected string Scratch { get; }

    public void Dispose()
    {
        try { Directory.Delete(Scratch, recursive: true); } catch (IOException) { }
        GC.SuppressFinalize(this);
    }
}
