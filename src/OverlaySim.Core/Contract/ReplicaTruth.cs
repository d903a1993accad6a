namespace OverlaySim.Core;

/// <summary>
/// The ground truth of an overlay that has no responsible node (flooding search, a central index): an answer is correct
/// when the node named holds a copy of the item now (it is alive and the store has its copy). Keys per node do not apply.
/// </summary>
public sealed class ReplicaTruth(KeyStore store, NodeTable nodes) : GroundTruth
{
    public override bool IsCorrect(int answer, in LookupRecord lookup) =>
        answer >= 0 && lookup.KeyIndex >= 0 && nodes.IsAlive(answer) && store.NodeHolds(answer, lookup.KeyIndex);

    public override int Responsible(Id key, int keyIndex) => -1;

    public override bool HasResponsibleNodes => false;
}
