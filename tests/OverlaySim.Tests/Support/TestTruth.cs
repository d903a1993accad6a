using OverlaySim.Core;

namespace OverlaySim.Tests.Support;

/// <summary>A ground truth for test overlays without a rule of their own: every answer is correct, no node is responsible.</summary>
internal sealed class AnyAnswerIsCorrect : GroundTruth
{
    public override bool IsCorrect(int answer, in LookupRecord lookup) => true;
    public override int Responsible(Id key, int keyIndex) => -1;
    public override bool HasResponsibleNodes => false;
}
