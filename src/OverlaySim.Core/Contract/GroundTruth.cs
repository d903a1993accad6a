namespace OverlaySim.Core;

/// <summary>
/// An overlay's ground truth: from the global view, whether a node is a correct answer for a lookup, and which
/// node is responsible for a key. For metrics and tests only.
/// </summary>
/// <remarks>
/// <para>Each overlay owns its rule: Chord's answer is the key's successor, Kademlia's the XOR-closest node for a
/// node lookup or a node holding a live copy for a value lookup; Pastry's will be the numerically closest, CAN's
/// the owner of the key's point, an unstructured overlay's any holder of a replica.</para>
/// <para>Protocol code never reads it. The types keep it out of reach: the <see cref="Network"/> an overlay is attached
/// to exposes neither the global view nor the truth (both internal to Core); an overlay sees the view only as the
/// argument of <see cref="Overlay.BuildStatic"/> and <see cref="Overlay.CreateTruth"/>, and is handed no reference to
/// the truth it creates. That it keeps none of them is checked, for every registered overlay, by the conformance
/// suite.</para>
/// </remarks>
public abstract class GroundTruth
{
    /// <summary>Whether <paramref name="answer"/> is a correct answer to lookup <paramref name="lookup"/> at this instant.</summary>
    public abstract bool IsCorrect(int answer, in LookupRecord lookup);

    /// <summary>
    /// The node responsible for key <paramref name="keyIndex"/> (id <paramref name="key"/>) now, for keys_per_node;
    /// -1 when no node is. Only meaningful when <see cref="HasResponsibleNodes"/>.
    /// </summary>
    public abstract int Responsible(Id key, int keyIndex);

    /// <summary>Whether keys have one responsible node (a DHT); false for overlays judged by replicas held.</summary>
    public virtual bool HasResponsibleNodes => true;
}
