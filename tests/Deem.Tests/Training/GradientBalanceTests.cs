using Deem.Training;
using static TorchSharp.torch;

namespace Deem.Tests.Training;

/// <summary>
/// The per-part gradient of each weighted loss term: each term reaches only the parts its path goes
/// through, and the norms are those of a direct backward of the same term on the same draws.
/// </summary>
[Collection(TrainingCollection.Name)]
public class GradientBalanceTests(TrainingWorld world)
{
    [Fact]
    public void EachTermReachesOnlyItsPartsWithTheNormOfADirectBackward()
    {
        using var scope = NewDisposeScope();
        var stage = TrainingWorld.Stage(2, 1) with { MaxLength = 256 };           // SFT prompts are longer than the stage-1 tests' 64
        using var model = TrainingWorld.Model(stage, seed: 0);
        using var data = world.Stream(stage with { Seed = 7 });
        using var set = EvalSet.Draw(data, 2, "test world");

        var r = GradientBalance.Measure(model, set, stage);
        GradientBalanceRow Part(string name) => Assert.Single(r.Groups, g => g.Group == name);

        Assert.DoesNotContain(r.Groups, g => g.Group == "other");                     // every trainable parameter has its part
        Assert.DoesNotContain(r.Groups, g => g.Group is "UNet" or "encoder trunk (ConvNeXt)");   // frozen in stage 2
        Assert.All(r.Groups.Append(r.All), g => Assert.Equal(0.0, g.Nip));             // λ_NIP = 0 in stage 2
        // NTP reaches the LLM and never CSR's own path; CSR never the LLM; both the perceiver the LLM reads.
        Assert.True(Part("LLM").Ntp > 0);
        Assert.Equal(0.0, Part("LLM").Csr);
        Assert.Equal(0.0, Part("text head").Csr);
        Assert.True(Part("MMFSNet").Csr > 0);
        Assert.Equal(0.0, Part("MMFSNet").Ntp);
        Assert.Equal(0.0, Part("proj_i (CSR's condition)").Ntp);
        var perceiver = Part("visual Q-Former (perceiver)");
        Assert.True(perceiver.Ntp > 0 && perceiver.Csr > 0);
        Assert.InRange(perceiver.CosNtpCsr!.Value, -1.0, 1.0);
        // A part one term reaches alone has that term's norm as its total; the whole is the parts' Pythagorean sum.
        Assert.Equal(Part("LLM").Ntp, Part("LLM").Total, 1e-9);
        Assert.Equal(Math.Sqrt(r.Groups.Sum(g => g.Csr * g.Csr)), r.All.Csr, 1e-6 * r.All.Csr);
        double cos = r.All.CosNtpCsr!.Value;
        Assert.Equal(r.All.Total * r.All.Total, r.All.Ntp * r.All.Ntp + r.All.Csr * r.All.Csr + 2 * cos * r.All.Ntp * r.All.Csr,
            1e-6 * r.All.Total * r.All.Total);
        Assert.Equal(Math.Min(1.0, stage.MaxGradNorm / r.All.Total), r.ClipFactor, 1e-12);
        Assert.All(model.parameters(), p => Assert.Null(p.grad));                        // nothing left behind

        // The same term, backward directly: λ_CSR · mean over the batches of CSR, at the evaluation's draws, in eval mode.
        model.eval();
        for (int i = 0; i < set.Count; i++)
        {
            using var g = new Generator(EvalSet.NoiseSeed + (ulong)i);
            var o = model.forward(BatchInput.WithWeights(set.Batches[i], 1.0, 1.0, 1.0, g, device: model.Device));
            (o.Csr * (stage.CsrWeight / set.Count)).backward();
        }
        double direct = Math.Sqrt(model.parameters().Where(p => p.requires_grad && p.grad is not null)
            .Sum(p => p.grad!.to(float64).pow(2).sum().item<double>()));
        Assert.True(direct > 0);
        Assert.Equal(direct, r.All.Csr, 1e-4 * direct);
    }
}
