using OverlaySim.Core;

namespace OverlaySim.Overlays;

// ---- lookups computed when they are announced (Network.RoutesAhead) ------------------------------------------------
//
// In the converged model (protocol: static) with fixed pair delays, no churn, no lookup deadline and no end, nothing a
// node lookup reads can change while it is in flight, and no lookup affects another: its whole exchange (the α RPCs,
// their replies, the shortlist and the RPCs each reply leads to) is a function of its origin and target. The workload
// announces its lookups before they begin (ILookupPlanner), and each is run there, apart from the run's event queue,
// in a small queue of its own ordered as the engine orders events (time, then the order they were sent): the same
// handlers as below (the shortlist, SelectToAsk, Closest), the same sizes and delays. When it begins, its messages,
// bytes and loads are counted, and only two events are simulated: its answer, when the reply that settled it arrives,
// and, if a reply came later (an RPC to a contact pushed off the shortlist, or one of the α still in flight), the last
// of them, so that the lookup ends when it would have. Lookups that would arm an RPC timeout (a timeout shorter than
// the round trip), reach the lookup deadline or find a value (store_keys) are left to the event queue, as are all of
// the protocol's.
// RouteAheadTests compares every result file with the same runs hop by hop.

/// <summary>Kademlia: node lookups computed when the workload announces them (see above).</summary>
public sealed partial class Kademlia
{
    /// <summary>What a lookup computed ahead came to (<see cref="PlanLookup"/>).</summary>
    private struct PlannedLookupResult
    {
        public Id Key;
        public int Origin;
        public bool Planned;      // false: it runs through the event queue as usual
        public bool Failed;       // no contact to ask: failed as it began (and sent nothing)
        public int Answer;        // the closest node that answered
        public int AnsweredFrom;  // the node whose reply settled it
        public int Hops, Rounds, Rpcs, Messages;
        public long Bytes;
        public long AnswerAt;     // µs after it began
        public int LastFrom;      // the sender of its last message, and when that message arrived
        public long LastAt;
    }

    /// <summary>A batch of announced lookups, begun in order, with the machines of the measured ones' messages.</summary>
    private sealed class PlanBatch
    {
        public PlannedLookupResult[] Results = new PlannedLookupResult[Workload.PlanAhead];
        public int Count, Next;
        public int[] Loads = new int[64 * Workload.PlanAhead];
        public int LoadCount;

        public void AddLoad(int machine)
        {
            if (LoadCount == Loads.Length) Array.Resize(ref Loads, 2 * Loads.Length);
            Loads[LoadCount++] = machine;
        }
    }

    /// <summary>An event of a lookup run ahead: an RPC arriving at <see cref="Node"/>, or its reply arriving back.</summary>
    private struct AheadEvent
    {
        public long Time, Seq;
        public bool Reply;
        public int Node;       // the node asked (the reply's sender)
        public int Round;
        public int Payload;    // a reply's contacts (index into _aheadPayloads)
    }

    private readonly Queue<PlanBatch> _planned = new();
    private readonly Stack<PlanBatch> _spareBatches = new();
    private QueryPeerSet? _aheadPeers;                 // slot 0: the lookup being run ahead
    private readonly List<AheadEvent> _aheadQueue = [];
    private readonly List<Contact[]> _aheadPayloads = [];
    private readonly Stack<int> _freeAheadPayloads = new();

    bool ILookupPlanner.ChecksDeadline => true;

    void ILookupPlanner.Plan(ReadOnlySpan<PlannedLookup> upcoming)
    {
        if (upcoming.IsEmpty) return;
        PlanBatch batch = _spareBatches.Count > 0 ? _spareBatches.Pop() : new PlanBatch();
        if (batch.Results.Length < upcoming.Length) batch.Results = new PlannedLookupResult[upcoming.Length];
        batch.Count = upcoming.Length;
        batch.Next = 0;
        batch.LoadCount = 0;
        bool plannable = !_o.Dynamic && _store is null && NodeLookupEnded is null;
        for (int i = 0; i < upcoming.Length; i++)
        {
            ref readonly PlannedLookup lookup = ref upcoming[i];
            int loads = batch.LoadCount;
            batch.Results[i] = plannable ? PlanLookup(in lookup, batch) : new PlannedLookupResult { Key = lookup.Key, Origin = lookup.Origin };
            if (!batch.Results[i].Planned) batch.LoadCount = loads;   // counted as it runs instead
        }
        _planned.Enqueue(batch);
    }

    /// <summary>Runs one node lookup apart from the event queue, as <see cref="Begin"/>, <see cref="Pump"/>, <see cref="OnFindNode"/> and <see cref="OnReply"/> would.</summary>
    private PlannedLookupResult PlanLookup(in PlannedLookup lookup, PlanBatch batch)
    {
        var result = new PlannedLookupResult { Key = lookup.Key, Origin = lookup.Origin, Planned = true, Answer = -1 };
        QueryPeerSet peers = _aheadPeers ??= new QueryPeerSet(1, _k);
        List<AheadEvent> queue = _aheadQueue;
        queue.Clear();
        long seq = 0;
        int origin = lookup.Origin;
        Id key = lookup.Key;
        bool measured = lookup.Measured;
        Transport transport = Net.Transport;
        int originMachine = transport.MachineOf(origin);
        const int slot = 0;
        peers.Reset(slot);
        Span<Contact> first = stackalloc Contact[_k];
        int found = _buckets.Closest(origin, key, first);
        peers.OfferAll(slot, first[..found], key, depth: 1, exclude: origin);
        Span<int> ask = stackalloc int[_o.Alpha];
        bool answered = false;
        if (!Ask(0, round: 1, ask)) return result;
        while (queue.Count > 0)
        {
            AheadEvent ev = PopAhead(queue);
            result.LastFrom = ev.Node;
            result.LastAt = ev.Time;
            if (!ev.Reply)
            {
                // OnFindNode at the node asked (no value: keys are not stored), and its reply.
                int payload = NewAheadPayload();
                Contact[] contacts = _aheadPayloads[payload];
                int count = _buckets.Closest(ev.Node, key, contacts);
                _aheadPayloadLength[payload] = count;
                int toMachine = originMachine;
                result.Messages++;
                result.Bytes += Header + NodeRef * count;
                if (measured) batch.AddLoad(toMachine);
                PushAhead(queue, new AheadEvent { Time = ev.Time + transport.MachineDelay(transport.MachineOf(ev.Node), toMachine), Seq = seq++, Reply = true, Node = ev.Node, Round = ev.Round, Payload = payload });
                continue;
            }
            // OnReply at the origin.
            if (answered)
            {
                FreeAheadPayload(ev.Payload);
                continue;
            }
            int at = peers.IndexOf(slot, ev.Node);
            if (at >= 0) peers.MarkAnswered(slot, at);
            int depth = at >= 0 ? peers.Depth(slot, at) : 1;
            peers.OfferAll(slot, _aheadPayloads[ev.Payload].AsSpan(0, _aheadPayloadLength[ev.Payload]), key, depth + 1, exclude: origin);
            FreeAheadPayload(ev.Payload);
            if (!Ask(ev.Time, ev.Round + 1, ask)) return result;
            if (answered) result.AnsweredFrom = ev.Node;
        }
        // The deadline's event, scheduled as the lookup begins, comes before its messages of the same instant: a lookup
        // with anything in flight then is cut short there, and is left to the event queue.
        if (Net.Lookups.Timeout > 0 && result.LastAt >= Net.Lookups.Timeout) result.Planned = false;
        return result;

        // Pump: α RPCs in flight to the closest not yet asked; when none is awaited, the lookup is answered. False if an
        // RPC would arm a timeout: the lookup is then left to the event queue.
        bool Ask(long now, int round, Span<int> ask)
        {
            int asked = peers.SelectToAsk(slot, _o.Alpha, round, ask);
            for (int i = 0; i < asked; i++)
            {
                int to = transport.MachineOf(ask[i]);
                long oneWay = transport.MachineDelay(originMachine, to);
                long rtt = oneWay + transport.MachineDelay(to, originMachine);
                if (Timeout(rtt) < rtt)
                {
                    result.Planned = false;
                    return false;
                }
                result.Rpcs++;
                result.Messages++;
                result.Bytes += Header + KeyBytes + NodeRef;
                if (measured) batch.AddLoad(to);
                PushAhead(queue, new AheadEvent { Time = now + oneWay, Seq = seq++, Node = ask[i], Round = round });
            }
            if (answered || peers.Waiting(slot) > 0) return true;
            int answer = peers.ClosestAnswered(slot);
            answered = true;
            result.AnswerAt = now;
            if (answer < 0)
            {
                result.Failed = true;
                return true;
            }
            result.Rounds = peers.Round(slot, answer);
            result.Answer = peers.Peer(slot, answer);
            result.Hops = peers.Depth(slot, answer);
            return true;
        }
    }

    private int[] _aheadPayloadLength = new int[16];

    private int NewAheadPayload()
    {
        if (_freeAheadPayloads.Count > 0) return _freeAheadPayloads.Pop();
        _aheadPayloads.Add(new Contact[_k]);
        if (_aheadPayloads.Count > _aheadPayloadLength.Length) Array.Resize(ref _aheadPayloadLength, 2 * _aheadPayloadLength.Length);
        return _aheadPayloads.Count - 1;
    }

    private void FreeAheadPayload(int payload) => _freeAheadPayloads.Push(payload);

    // A binary heap on (time, order sent): the order the engine dispatches the events of one lookup in.
    private static bool Before(in AheadEvent a, in AheadEvent b) => a.Time < b.Time || (a.Time == b.Time && a.Seq < b.Seq);

    private static void PushAhead(List<AheadEvent> heap, AheadEvent ev)
    {
        heap.Add(ev);
        int i = heap.Count - 1;
        while (i > 0)
        {
            int parent = (i - 1) / 2;
            if (!Before(ev, heap[parent])) break;
            heap[i] = heap[parent];
            i = parent;
        }
        heap[i] = ev;
    }

    private static AheadEvent PopAhead(List<AheadEvent> heap)
    {
        AheadEvent top = heap[0];
        AheadEvent last = heap[^1];
        heap.RemoveAt(heap.Count - 1);
        int n = heap.Count, i = 0;
        if (n == 0) return top;
        while (true)
        {
            int child = 2 * i + 1;
            if (child >= n) break;
            if (child + 1 < n && Before(heap[child + 1], heap[child])) child++;
            if (!Before(heap[child], last)) break;
            heap[i] = heap[child];
            i = child;
        }
        heap[i] = last;
        return top;
    }

    /// <summary>An announced lookup begins: run through the event queue, or, if it was run ahead, counted and its answer (and last reply) sent.</summary>
    private void BeginPlanned(int lookup)
    {
        PlanBatch batch = _planned.Peek();
        if (batch.Next == 0) Net.Transport.AddLoads(batch.Loads.AsSpan(0, batch.LoadCount));
        PlannedLookupResult plan = batch.Results[batch.Next];
        if (++batch.Next == batch.Count) _spareBatches.Push(_planned.Dequeue());
        ref LookupRecord rec = ref Net.Lookups[lookup];
        if (plan.Origin != rec.Origin || plan.Key != rec.Key)
            throw new InvalidOperationException($"lookup of {rec.Key} from node {rec.Origin} began, but the next one planned was of {plan.Key} from node {plan.Origin}");
        if (!plan.Planned)
        {
            Begin(lookup);
            return;
        }
        _rounds[lookup] = plan.Rounds;
        _rpcs[lookup] = plan.Rpcs;
        Net.Transport.CountPlannedTotal(ref rec, plan.Messages, plan.Bytes);
        if (plan.Failed)
        {
            Fail(lookup);
            return;
        }
        // Every contact asked answers (no timeout is armed, nobody dies), so a lookup that sent anything finds an answer.
        Net.Transport.DeliverPlanned(plan.AnsweredFrom, rec.Origin, new Event { Lookup = lookup, Arg = plan.Answer, Aux = (ushort)plan.Hops, Sink = Sink, Type = (byte)KademliaMessage.PlannedAnswer }, plan.AnswerAt);
        if (plan.LastAt > plan.AnswerAt)
            Net.Transport.DeliverPlanned(plan.LastFrom, rec.Origin, new Event { Lookup = lookup, Sink = Sink, Type = (byte)KademliaMessage.PlannedLast }, plan.LastAt);
    }

    /// <summary>The reply that settled a lookup run ahead arrives: its answer (the closest node that answered) and its hops.</summary>
    private void OnPlannedAnswer(in Event ev) => Complete(ev.Lookup, ev.Arg, ev.Aux);
}
