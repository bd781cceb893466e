using Deem.Model;
using Deem.Text;

namespace Deem.World.Pretraining;

/// <summary>
/// Turns a stage-0 output folder into a DEEM model folder: builds the DEEM from the component
/// folders exactly as from the real checkpoints (<see cref="ComponentLoader"/>) and saves it next to
/// them, so stage 1 starts with <c>--init &lt;stage-0 folder&gt;</c>.
/// </summary>
public static class Stage0Model
{
    public static void Assemble(Stage0Summary summary, WordPieceTextTokenizer tokenizer, int seed)
    {
        TorchSharp.torch.manual_seed(seed);
        using var model = ComponentLoader.Build(summary.Config, ComponentFolders.Under(summary.OutDir), new TorchSharp.torch.Generator((ulong)seed));
        DeemCheckpoint.Save(summary.OutDir, model, tokenizer, new Dictionary<string, string> { ["stage"] = "0" });
    }
}
