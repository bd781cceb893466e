using Deem.World;
using Deem.Config;
using Deem.IO;
using Deem.Model;
using Deem.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Deem.Tests.Model;

/// <summary>The whole tiny DEEM: the three losses, where CSR's gradient goes, and a checkpoint round trip.</summary>
public class DeemModelTests
{
    static DeemModel Tiny(ulong seed) => new(WorldPresets.Tiny, new Generator(seed));

    [Fact]
    public void StateDictKeysAreTheAuthorsLayoutWithoutDuplicates()
    {
        using var model = Tiny(0);
        var keys = model.state_dict().Keys.ToList();
        Assert.Equal(keys.Count, keys.Distinct().Count());
        Assert.DoesNotContain(keys, k => k.StartsWith("visual_tokenizer.head."));
        foreach (var k in new[] { "visual_tokenizer.sniffer.vision_model.visual.trunk.stem.0.weight", "visual_tokenizer.pos_proj.weight",
                     "visual_tokenizer.perceiver_resampler.queries", "visual_tokenizer.proj_t.weight", "visual_tokenizer.proj_i.weight",
                     "visual_tokenizer.encoder.unet.conv_in.weight", "visual_tokenizer.encoder.vae.encoder.conv_in.weight",
                     "visual_tokenizer.encoder.mmfs_module.mmfs_mid_block.conv.weight", "mm_decoder.embed_tokens.weight",
                     "mm_decoder.layers.0.llama_cross_attn.gate", "text_decoder.head.weight", "text_decoder.head_new.weight",
                     "image_decoder.neg_prompt_embeds", "context_feat_proj.weight", "soi_token" })
            Assert.Contains(k, keys);
    }

    [Fact]
    public void ForwardGivesThreeFiniteLossesAndLogits()
    {
        using var scope = NewDisposeScope();
        var config = WorldPresets.Tiny;
        using var model = Tiny(1);
        model.train();
        var gen = new Generator(2);
        var batch = SyntheticBatch.Interleaved(config, gen);
        var o = model.forward(batch);
        Assert.Equal(new[] { batch.Ids.shape[0], batch.Ids.shape[1], (long)config.Llm.VocabSize }, o.Logits.shape);
        foreach (var t in new[] { o.Ntp, o.Nip, o.Csr })
        {
            Assert.Empty(t.shape);
            Assert.True(float.IsFinite(t.item<float>()) && t.item<float>() > 0);
        }
        var expected = config.NtpWeight * o.Ntp.item<float>() + config.NipWeight * o.Nip.item<float>() + config.CsrWeight * o.Csr.item<float>();
        // A tolerance, not rounding to 4 decimals: the two float32 sums differ in their last bits, and rounding splits
        // them whenever the (dropout-dependent) total lies near a rounding boundary.
        Assert.Equal(expected, o.Loss.item<float>(), tolerance: 1e-5 * Math.Max(1, Math.Abs(expected)));
    }

    [Fact]
    public void CsrGradientReachesEncoderPerceiverAndMmfsNetButNotUNetOrLlm()
    {
        using var scope = NewDisposeScope();
        var config = WorldPresets.Tiny;
        using var model = Tiny(3);
        FreezeSchedule.DeemStage1.Apply(model);
        // Make the LLM trainable too: CSR must still leave it without gradient.
        foreach (var (name, p) in model.named_parameters())
            if (name.StartsWith("mm_decoder.") || name.StartsWith("text_decoder.")) p.requires_grad = true;
        model.train();
        var batch = SyntheticBatch.Interleaved(config, new Generator(4)) with { NtpWeight = 0, NipWeight = 0 };
        var o = model.forward(batch);
        Assert.Equal(0f, o.Ntp.item<float>());
        Assert.Equal(0f, o.Nip.item<float>());
        o.Loss.backward();

        bool HasGrad(string prefix) => model.named_parameters()
            .Where(p => p.name.StartsWith(prefix)).Any(p => p.parameter.grad is not null && p.parameter.grad.abs().sum().item<float>() > 0);
        bool AnyGrad(string prefix) => model.named_parameters()
            .Where(p => p.name.StartsWith(prefix)).Any(p => p.parameter.grad is not null);

        Assert.True(HasGrad("visual_tokenizer.sniffer.vision_model.visual.trunk."), "ConvNeXt trunk");
        Assert.True(HasGrad("visual_tokenizer.sniffer.vision_model.adapter_"), "adapters");
        Assert.True(HasGrad("visual_tokenizer.perceiver_resampler."), "perceiver");
        Assert.True(HasGrad("visual_tokenizer.proj_i."), "proj_i");
        Assert.True(HasGrad("visual_tokenizer.encoder.mmfs_module."), "MMFSNet");
        Assert.False(AnyGrad("visual_tokenizer.encoder.unet."), "the frozen UNet");
        Assert.False(AnyGrad("visual_tokenizer.encoder.vae."), "the VAE");
        Assert.False(HasGrad("mm_decoder."), "the LLM");
        Assert.False(HasGrad("text_decoder."), "the text head");
        Assert.False(HasGrad("visual_tokenizer.proj_t."), "proj_t feeds only the LLM");
        Assert.All(model.named_parameters().Where(p => p.name.StartsWith("visual_tokenizer.encoder.unet.")),
            p => Assert.False(p.parameter.requires_grad));
    }

    [Fact]
    public void FreezeSchedulesSelectTheExactTrainableSets()
    {
        using var model = Tiny(5);
        string[] Trainable(FreezeSchedule s)
        {
            s.Apply(model);
            return model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToArray();
        }
        var deem = Trainable(FreezeSchedule.DeemStage1);
        var baseline = Trainable(FreezeSchedule.BaselineStage1);
        var sft = Trainable(FreezeSchedule.Sft);
        var all = model.named_parameters().Select(p => p.name).ToArray();

        Assert.Contains(deem, n => n.StartsWith("visual_tokenizer.sniffer.vision_model.visual.trunk."));
        Assert.DoesNotContain(deem, n => n.StartsWith("visual_tokenizer.encoder.unet."));
        Assert.DoesNotContain(deem, n => n.StartsWith("mm_decoder.") && !n.Contains(".llama_cross_attn."));
        Assert.Contains(deem, n => n.Contains(".llama_cross_attn.gate"));

        Assert.DoesNotContain(baseline, n => n.StartsWith("visual_tokenizer.sniffer.vision_model.visual."));
        Assert.Contains(baseline, n => n.StartsWith("visual_tokenizer.sniffer.vision_model.adapter_"));
        Assert.Contains(baseline, n => n.StartsWith("visual_tokenizer.encoder.unet."));

        Assert.Contains(sft, n => n.StartsWith("mm_decoder.layers.0.self_attn."));
        Assert.DoesNotContain(sft, n => n.StartsWith("visual_tokenizer.encoder.unet."));

        // The authors' stage-1 rule switches on every llama_cross_attn parameter, the MMFS ignore tokens included;
        // in SFT they stay frozen, and MMFSNet's ignore tokens and position tables never train.
        var llmIgnore = all.Where(n => n.StartsWith("mm_decoder.") && n.EndsWith(".llama_cross_attn.attn.ignore_token")).ToArray();
        Assert.NotEmpty(llmIgnore);
        Assert.All(llmIgnore, n => { Assert.Contains(n, deem); Assert.Contains(n, baseline); Assert.DoesNotContain(n, sft); });
        foreach (var set in new[] { deem, baseline, sft })
        {
            Assert.DoesNotContain(set, n => n.StartsWith("visual_tokenizer.encoder.vae."));
            Assert.DoesNotContain(set, n => n.StartsWith("text_decoder.head."));
            Assert.DoesNotContain(set, n => (n.EndsWith(".ignore_token") && !llmIgnore.Contains(n)) || n.EndsWith(".pos_embed"));
            Assert.Contains("text_decoder.head_new.weight", set);
            Assert.Contains("soi_token", set);
        }
        // The differences between DEEM and the baseline are exactly the trunk (+ unused head) and the UNet.
        var onlyDeem = deem.Except(baseline).ToArray();
        var onlyBaseline = baseline.Except(deem).ToArray();
        Assert.All(onlyDeem, n => Assert.StartsWith("visual_tokenizer.sniffer.vision_model.visual.", n));
        Assert.All(onlyBaseline, n => Assert.StartsWith("visual_tokenizer.encoder.unet.", n));
        Assert.Equal(all.Count(n => n.StartsWith("visual_tokenizer.encoder.unet.")), onlyBaseline.Length);
    }

    [Fact]
    public void SaveThenStrictLoadGivesIdenticalOutputsAndNamesBadKeys()
    {
        var dir = Directory.CreateTempSubdirectory("deem-model-").FullName;
        try
        {
            using var scope = NewDisposeScope();
            var config = WorldPresets.Tiny;
            var batch = SyntheticBatch.Interleaved(config, new Generator(6)) with { NipWeight = 0, CsrWeight = 0 };
            using var a = Tiny(7);
            using var b = Tiny(8);
            a.eval(); b.eval();
            var path = Path.Combine(dir, "model.safetensors");
            StateDicts.Save(a, path);

            var before = b.forward(batch).Logits;
            Assert.True((before - a.forward(batch).Logits).abs().max().item<float>() > 1e-3, "different seeds differ");
            StateDicts.LoadStrict(b, path);
            Assert.Equal(0f, (b.forward(batch).Logits - a.forward(batch).Logits).abs().max().item<float>());

            // A checkpoint missing one key, or with one extra key, is refused with the key named.
            var tensors = a.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value);
            var missing = new Dictionary<string, Tensor>(tensors);
            missing.Remove("visual_tokenizer.proj_i.weight");
            SafetensorsWriter.Write(Path.Combine(dir, "missing.safetensors"), missing);
            var e1 = Assert.Throws<DeemFormatException>(() => StateDicts.LoadStrict(b, Path.Combine(dir, "missing.safetensors")));
            Assert.Contains("visual_tokenizer.proj_i.weight", e1.Message);

            var extra = new Dictionary<string, Tensor>(tensors) { ["mm_decoder.layers.99.mlp.up_proj.weight"] = zeros(2, 2) };
            SafetensorsWriter.Write(Path.Combine(dir, "extra.safetensors"), extra);
            var e2 = Assert.Throws<DeemFormatException>(() => StateDicts.LoadStrict(b, Path.Combine(dir, "extra.safetensors")));
            Assert.Contains("mm_decoder.layers.99.mlp.up_proj.weight", e2.Message);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}

/// <summary>Paper-scale counts run alone: they switch the process-wide default device to meta.</summary>
[Collection(GlobalTorchStateCollection.Name)]
public class PaperScaleParameterTests
{
    [Fact]
    public void TrainableTotalsMatchThePaper()
    {
        var previous = get_default_device();
        DeemModel model;
        set_default_device(META);
        try { model = new DeemModel(DeemConfig.Paper7B); }
        finally { set_default_device(previous); }

        FreezeSchedule.DeemStage1.Apply(model);
        double deem = ParameterTable.TrainableCount(model) / 1e6;
        // The authors' stage-1 rule trains the 8 LLM MMFS ignore tokens (8 × 1024) on top of reference §1.11's 494.77 M.
        long ignoreTrainable = model.named_parameters().Where(p => p.name.EndsWith(".ignore_token") && p.parameter.requires_grad).Sum(p => p.parameter.numel());
        Assert.Equal(8 * 1024, ignoreTrainable);
        Assert.Equal(494_770_638L + 8 * 1024, ParameterTable.TrainableCount(model));
        FreezeSchedule.BaselineStage1.Apply(model);
        double baseline = ParameterTable.TrainableCount(model) / 1e6;
        // Paper (Table 3 and §2.3): DEEM 494.9 M, baseline (UNet trainable, ConvNeXt frozen) 1271.0 M.
        Assert.InRange(deem, 494.9 - 0.2, 494.9 + 0.2);
        Assert.InRange(baseline, 1271.0 - 0.2, 1271.0 + 0.2);
        // Whole system ≈ 8.23 B (reference §1.11).
        Assert.InRange(ParameterTable.Total(model) / 1e9, 8.22, 8.24);
    }
}

/// <summary>The LLaVA-style variant (paper Table 5): MLP projector, no MMFS, no NIP; CSR still corrects the encoder.</summary>
public class LlavaVariantTests
{
    [Fact]
    public void LlavaVariantTrainsWithCsrAndHasNoMmfsOrImageDecoder()
    {
        using var scope = NewDisposeScope();
        var config = WorldPresets.TinyLlava;
        Assert.Equal(1 + 4 * 4, config.ImageTokens);
        using var model = new DeemModel(config, new Generator(11));
        var names = model.named_parameters().Select(p => p.name).ToList();
        Assert.DoesNotContain(names, n => n.Contains(".llama_cross_attn."));
        Assert.DoesNotContain(names, n => n.StartsWith("image_decoder."));
        Assert.Contains("mm_projector.0.weight", names);

        FreezeSchedule.DeemStage1.Apply(model);
        model.train();
        var o = model.forward(SyntheticBatch.Interleaved(config, new Generator(12)));
        Assert.Equal(0f, o.Nip.item<float>());
        Assert.True(o.Csr.item<float>() > 0);
        o.Loss.backward();
        var trunkGrad = model.named_parameters().Where(p => p.name.StartsWith("visual_tokenizer.sniffer.vision_model.visual.trunk."))
            .Any(p => p.parameter.grad is not null && p.parameter.grad.abs().sum().item<float>() > 0);
        Assert.True(trunkGrad);
        Assert.True(model.named_parameters().Where(p => p.name.StartsWith("mm_projector."))
            .All(p => p.parameter.grad is not null && p.parameter.grad.abs().sum().item<float>() > 0));
    }
}
