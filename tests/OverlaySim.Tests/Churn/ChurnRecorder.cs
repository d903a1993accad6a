using OverlaySim.Core;
using OverlaySim.Tests.Support;

namespace OverlaySim.Tests.Churn;

/// <summary>One machine coming up or going down, as the overlay saw it.</summary>
internal readonly record struct MachineChange(long Time, int Machine, ChurnAction Action);

/// <summary>
/// A test overlay that records every join, leave and crash the churn driver causes, per machine and in order.
/// Around an inner overlay it forwards everything (so a real protocol runs as usual); alone it is an "oracle
/// overlay" with no messages at all, whose lookups end at once at their origin, so that a churn model can be run
/// for hours of simulated time in milliseconds and its statistics checked.
/// </summary>
internal sealed class ChurnRecorder(Overlay? inner = null) : Overlay
{
    public List<MachineChange> Changes { get; } = [];
    public bool MaintenanceStopped { get; private set; }

    public override string Name => inner?.Name ?? "recorder";
    public override bool SupportsChurn => true;
    public override long LookupTimeout => inner?.LookupTimeout ?? 0;

    protected override void OnAttached() => inner?.Attach(Net);

    public override void BuildStatic(Oracle view) => inner?.BuildStatic(view);

    public override GroundTruth CreateTruth(Oracle view) => inner?.CreateTruth(view) ?? new AnyAnswerIsCorrect();

    public override void OnJoin(int node, int bootstrap)
    {
        if (node == Net.Population.MachineBase(Net.Nodes.Machine[node])) Changes.Add(new(Net.Sim.Now, Net.Nodes.Machine[node], ChurnAction.Join));
        if (inner is null) Net.Population.Joined(node);
        else inner.OnJoin(node, bootstrap);
    }

    public override void OnLeave(int node) => inner?.OnLeave(node);

    public override void OnDeparted(int node, bool graceful)
    {
        if (node == Net.Population.MachineBase(Net.Nodes.Machine[node]))
            Changes.Add(new(Net.Sim.Now, Net.Nodes.Machine[node], graceful ? ChurnAction.Leave : ChurnAction.Crash));
        inner?.OnDeparted(node, graceful);
    }

    public override void StopMaintenance()
    {
        MaintenanceStopped = true;
        inner?.StopMaintenance();
    }

    public override void StartLookup(int lookup)
    {
        if (inner is not null) inner.StartLookup(lookup);
        else Net.Lookups.Answer(lookup, Net.Lookups[lookup].Origin);
    }

    // The inner overlay registered its own sink and receives its events directly; nothing is ever sent to ours.
    protected override void Receive(ref Event ev) => throw new InvalidOperationException("the recorder sends no events");

    public override int Degree(int node) => inner?.Degree(node) ?? 0;
    public override void OnLookupDeadline(int lookup) => inner?.OnLookupDeadline(lookup);
    public override string MessageName(byte type) => inner?.MessageName(type) ?? base.MessageName(type);

    /// <summary>
    /// Lengths of the sessions (from a join, or time 0, to the departure) and downtimes (from a departure, or time 0,
    /// to the join) that began at a time accepted by <paramref name="startedInTime"/> and ended, and how many such
    /// intervals had not ended when the run did (censored).
    /// </summary>
    public (List<long> Sessions, List<long> Downtimes, int Censored) Intervals(bool[] initiallyUp, Func<long, bool> startedInTime)
    {
        var sessions = new List<long>();
        var downtimes = new List<long>();
        var since = new Dictionary<int, (long Time, bool Up)>();
        for (int m = 0; m < initiallyUp.Length; m++) since[m] = (0, initiallyUp[m]);
        foreach (MachineChange c in Changes)
        {
            bool up = c.Action == ChurnAction.Join;
            if (since.TryGetValue(c.Machine, out var s) && startedInTime(s.Time))
            {
                if (s.Up && !up) sessions.Add(c.Time - s.Time);
                else if (!s.Up && up) downtimes.Add(c.Time - s.Time);
            }
            since[c.Machine] = (c.Time, up);
        }
        return (sessions, downtimes, since.Values.Count(s => startedInTime(s.Time)));
    }
}
