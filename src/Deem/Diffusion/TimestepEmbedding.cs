using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Deem.Diffusion;

/// <summary>
/// The UNet's timestep encoding (diffusers <c>Timesteps</c> + <c>TimestepEmbedding</c>, keys
/// <c>time_embedding.linear_1/linear_2</c>): a sinusoidal code of t (DDPM's Transformer-style position
/// embedding) followed by Linear → SiLU → Linear.
/// </summary>
public sealed class TimestepEmbedding : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE0044
    private readonly Linear linear_1;
    private readonly Linear linear_2;
#pragma warning restore IDE0044

    public TimestepEmbedding(long inChannels, long timeEmbedDim) : base(nameof(TimestepEmbedding))
    {
        linear_1 = nn.Linear(inChannels, timeEmbedDim);
        linear_2 = nn.Linear(timeEmbedDim, timeEmbedDim);
        RegisterComponents();
    }

    /// <param name="sinusoid">[B, C] from <see cref="Sinusoid"/>.</param>
    /// <returns>[B, D] time embedding.</returns>
    public override Tensor forward(Tensor sinusoid)
    {
        using var scope = NewDisposeScope();
        return linear_2.forward(F.silu(linear_1.forward(sinusoid))).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// diffusers <c>get_timestep_embedding</c> (max period 10 000, scale 1), always float32:
    /// freq_k = exp(−ln(10000)·k / (half − freqShift)), k = 0 … half−1; code = [sin(t·f), cos(t·f)],
    /// swapped to [cos, sin] when <paramref name="flipSinToCos"/>; zero-padded when dim is odd.
    /// </summary>
    /// <param name="timesteps">[B] timesteps (integer or float).</param>
    /// <param name="dim">Width of the code.</param>
    /// <param name="flipSinToCos">Put the cosines first (SD: true).</param>
    /// <param name="freqShift">Frequency shift (SD: 0).</param>
    /// <returns>[B, dim] float32.</returns>
    public static Tensor Sinusoid(Tensor timesteps, long dim, bool flipSinToCos, double freqShift)
    {
        using var scope = NewDisposeScope();
        if (timesteps.dim() != 1) throw new ArgumentException($"timesteps: expected shape [B], found [{string.Join(", ", timesteps.shape)}]");
        long half = dim / 2;
        var exponent = arange(0, half, dtype: ScalarType.Float32, device: timesteps.device) * (-Math.Log(10000.0));
        exponent = exponent / (half - freqShift);
        var freqs = exponent.exp();                                                     // [half]
        var args = timesteps.to(ScalarType.Float32)[.., TensorIndex.None] * freqs[TensorIndex.None, ..]; // [B, half]
        var emb = flipSinToCos ? cat([args.cos(), args.sin()], -1) : cat([args.sin(), args.cos()], -1); // [B, 2·half]
        if (dim % 2 == 1) emb = F.pad(emb, [0, 1]);                                     // [B, dim]
        return emb.MoveToOuterDisposeScope();
    }
}
