using Deem.Text;

namespace Deem.Tests.Text;

public class PromptTemplatesTests
{
    [Theory]
    [InlineData("Is there a ring in the image? Please anwser yes or no", true)]      // POPE's and RobustVQA's own spelling
    [InlineData("Is circle the main object in this image? Please answer yes or no.", true)]
    [InlineData("is the arrow red? yes or no?", true)]
    [InlineData("what colour is the circle?", false)]
    [InlineData("is there a red circle?", false)]                                     // a yes/no question without the instruction keeps the VQA template
    [InlineData("say yes or no or maybe", false)]
    public void YesNoQuestionsAreThoseThatAskForYesOrNo(string question, bool yesNo) =>
        Assert.Equal(yesNo, PromptTemplates.IsYesNoQuestion(question));

    [Fact]
    public void TheYesNoTemplateHasNoOneWordInstruction()
    {
        var q = PromptTemplates.PopeQuestion("Is there a ring in the image?");
        Assert.DoesNotContain(PromptTemplates.OneWordInstruction, PromptTemplates.YesNoEval(q, 2));
        Assert.Contains(PromptTemplates.OneWordInstruction, PromptTemplates.VqaEval(q, 2));
    }
}
