namespace Deem.Text;

/// <summary>
/// The supervised-fine-tuning and evaluation prompt templates of DEEM in one place (reference §5.2,
/// §5.3, §6.1, §6.2), parameterised by the number of image tokens (77 at paper scale). Every prompt is
/// assembled as <c>S + " " + USER + " " + ASSIST</c>, then stripped; a training answer is appended as
/// <c>" " + answer + "&lt;/s&gt;"</c> with the loss on the answer only. The typos of the original
/// ("anwser", "asistant") are kept because the published models were trained and scored with them.
/// </summary>
public static class PromptTemplates
{
    public const string System = "You are a helpful assistant.\n\n";
    /// <summary>The caption-eval collator's variant (an extra space before the newlines).</summary>
    public const string CaptionEvalSystem = "You are a helpful assistant. \n\n";

    /// <summary>Short-caption questions for caption-as-QA training. DEEM samples from a list of 17 such
    /// questions (<c>QUESTIONS</c> in its <c>vqa_datasets.py</c>); this is our own list in that register.</summary>
    public static readonly string[] CaptionQuestions =
    [
        "Briefly describe this image.", "A short image caption:", "Describe the image briefly.",
        "Write a short description of the image.", "Summarize the image in a few words.",
        "What does the image show? Answer briefly.", "Give a brief caption of the picture.",
        "A short description of the picture:",
    ];

    /// <summary>Text-to-image instructions (DEEM has ~50 "reconstruct the complete image" prompts; ours are in that register).</summary>
    public static readonly string[] GenerationInstructions =
    [
        "Please reconstruct the complete image from the description. ", "Generate the complete image that matches this caption: ",
        "Draw the complete image described here: ", "Create the image for the following description: ",
    ];

    /// <summary><c>&lt;|startofimage|&gt;</c> + n × <c>&lt;|sniffer|&gt;</c> (reference §1.5).</summary>
    public static string Image(int imageTokens) => SpecialTokens.ImageBlock(imageTokens);

    public static string Assemble(string system, string user, string assist) => (system + " " + user + " " + assist).Trim();

    /// <summary>A training target appended to a prompt.</summary>
    public static string WithAnswer(string prompt, string answer) => prompt + " " + answer + SpecialTokens.EosText;

    /// <summary>VQA / LLaVA / caption-as-QA training prompt (assistant prefix with two spaces, as in the code).</summary>
    public static string VqaTrain(string question, int imageTokens) =>
        Assemble(System, $"## USER: Based on the image, please answer the question. {Image(imageTokens)}{question}\n", "## ASSISTANT:  The answer is");

    public const string OneWordInstruction = "Please provide an accurate answer within one word.";

    public static string VqaEval(string question, int imageTokens) =>
        Assemble(System, $"## USER: Based on the image, please answer the question. {Image(imageTokens)}{question} {OneWordInstruction}\n",
            "## ASSISTANT: The answer is");

    public static string VizWizEval(string question, int imageTokens) =>
        Assemble(System, $"## USER: Based on the image, please answer the question. {Image(imageTokens)}{question} Please provide an accurate answer within one word." +
            " When the provided information is insufficient, respond with 'Unanswerable'. Please provide an accurate answer within one word.\n",
            "## ASSISTANT: The answer is");

    /// <summary>True for a question that ends by asking for yes or no (RobustVQA's and POPE's instruction, either spelling).</summary>
    public static bool IsYesNoQuestion(string question)
    {
        var q = question.TrimEnd().TrimEnd('.', '?').TrimEnd();
        return q.EndsWith("yes or no", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>RobustVQA / POPE yes-no prompt.</summary>
    public static string YesNoEval(string question, int imageTokens) =>
        Assemble(System, $"## USER: Based on the image, please answer the question. {Image(imageTokens)}{question} \n", "## ASSISTANT: The answer is");

    /// <summary>RobustVQA question (reference §6.1) about class <paramref name="className"/>.</summary>
    public static string RobustVqaQuestion(string className) => $"Is {className} the main object in this image? Please anwser yes or no";

    /// <summary>POPE question: the file's <c>text</c> plus the yes/no instruction (reference §6.2).</summary>
    public static string PopeQuestion(string text) => text + " Please anwser yes or no";

    /// <summary>Caption training, image → text; <paramref name="questionIndex"/> picks from <see cref="CaptionQuestions"/>.</summary>
    public static string CaptionTrain(int imageTokens, int questionIndex) =>
        Assemble(System, $"## USER: {Image(imageTokens)}{CaptionQuestions[questionIndex]} \n", "## ASSISTANT:  A photo of");

    /// <summary>Caption training, text → image: the answer is the image block then <c>&lt;/s&gt;</c>.</summary>
    public static string TextToImageTrain(string caption, int imageTokens, int instructionIndex) =>
        Assemble(System, $"## USER: {GenerationInstructions[instructionIndex]}{caption} \n", "## ASSISTANT: ") + " " + Image(imageTokens) + SpecialTokens.EosText;

    public static string CaptionEval(int imageTokens) =>
        Assemble(CaptionEvalSystem, $"## USER: {Image(imageTokens)} Could you provide a short description of the image? \n", "## ASSISTANT: A photo of");

    public static string ParagraphEval(int imageTokens) =>
        Assemble(System, $"## USER: {Image(imageTokens)} Please describe the image in detail. \n", "## ASSISTANT: The image depicts");

    public static string Grounding(string caption, int imageTokens) =>
        Assemble(System, $"## USER: {Image(imageTokens)} Provide the bounding box coordinate of the region this sentence describes: {caption}. \n",
            "## ASSISTANT: the bounding box coordinate is");

    /// <summary>COCO preamble of the mask-text stage; its leading mask is the whole image (reference §5.3).</summary>
    public const string RegionPreamble =
        "<mask>\nIn the conversation below, you simply answer the category name based on what you see in the imagery inside a particular region. I will give you only one region each time.\n";

    /// <summary>A mask-text (Osprey-style) conversation: header, then "## user: …" / "## asistant: …" turns; every
    /// <c>&lt;mask&gt;</c> becomes an image block (the first is the whole image, then one per region).</summary>
    public static string Region(IReadOnlyList<(string Question, string Answer)> turns, int imageTokens)
    {
        var sb = new System.Text.StringBuilder("You are a helpful assistant.\n\n");
        for (int i = 0; i < turns.Count; i++)
        {
            string q = (i == 0 ? RegionPreamble : "") + turns[i].Question;
            sb.Append($"## user: {q}\n## asistant: {turns[i].Answer}\n");
        }
        return sb.ToString().Replace("<mask>", Image(imageTokens));
    }

    /// <summary>Region question asking about one masked region.</summary>
    public static string RegionQuestion => "What is the category of <mask>? Describe it briefly.";

    /// <summary>All fixed template text (for building the tokenizer vocabulary).</summary>
    public static IEnumerable<string> AllText()
    {
        yield return VizWizEval("", 0);
        yield return VqaTrain("", 0);
        yield return YesNoEval(RobustVqaQuestion("x"), 0);
        yield return PopeQuestion("");
        yield return CaptionEval(0);
        yield return ParagraphEval(0);
        yield return Grounding("", 0);
        yield return Region([(RegionQuestion, "")], 0);
        foreach (var q in CaptionQuestions) yield return CaptionTrain(0, Array.IndexOf(CaptionQuestions, q));
        foreach (var g in GenerationInstructions) yield return g;
    }
}
