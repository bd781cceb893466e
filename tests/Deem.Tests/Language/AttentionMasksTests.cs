using Deem.Language;
using static TorchSharp.torch;

namespace Deem.Tests.Language;

public class AttentionMasksTests
{
    [Fact]
    public void PositionIdsCountRealTokensFromTheLeftPadding()
    {
        using var mask = tensor(new long[] { 0, 0, 1, 1, 1, 1, 1, 1, 1, 1 }, [2, 5]);
        using var pos = AttentionMasks.PositionIds(2, 5, 0, mask, CPU);
        Assert.Equal(new long[] { 1, 1, 0, 1, 2, 0, 1, 2, 3, 4 }, pos.data<long>().ToArray());

        // Incremental step: the last new token of a [2, 5] mask.
        using var last = AttentionMasks.PositionIds(2, 1, 4, mask, CPU);
        Assert.Equal(new long[] { 2, 4 }, last.data<long>().ToArray());

        using var noMask = AttentionMasks.PositionIds(1, 3, 4, null, CPU);
        Assert.Equal(new long[] { 4, 5, 6 }, noMask.data<long>().ToArray());
    }

    [Fact]
    public void AdditiveMaskIsCausalOverCacheAndHidesPaddingKeys()
    {
        using var mask = tensor(new long[] { 0, 1, 1, 1 }, [1, 4]);
        // Past 2, new 2: query 0 is absolute index 2, query 1 is index 3.
        using var m = AttentionMasks.Additive(1, 2, 2, mask, ScalarType.Float32, CPU)!;
        Assert.Equal(new long[] { 1, 1, 2, 4 }, m.shape);
        var allowed = m.reshape(8).data<float>().Select(v => v == 0f).ToArray();
        Assert.Equal(new[] { false, true, true, false, false, true, true, true }, allowed);
        Assert.Null(AttentionMasks.Additive(1, 1, 5, null, ScalarType.Float32, CPU));
        Assert.Throws<ArgumentException>(() => AttentionMasks.Additive(1, 2, 2, tensor(new long[] { 1, 1, 1 }, [1, 3]), ScalarType.Float32, CPU));
    }
}
