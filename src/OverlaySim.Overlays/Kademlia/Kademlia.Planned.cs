using OverlaySim.Core;

namespace OverlaySim.Overlays;

// ---- lookups computed when they are announced (Network.RoutesAhead) ------------------------------------------------
//
// In the converged model (protocol: static) with fixed pair delays, no churn and no end, nothing a node lookup reads
// can change while it is in flight, and no lookup affects another: its whole exchange (the α RPCs, their replies, the
// shortlist and the RPCs each reply leads to) is a function of its origin and target. The workload
// announces its lookups before they begin (ILookupPlanner), and each is run there, apart from the run's event queue,
// in a small queue of its own ordered as the engine orders events (time, then the order they were sent): the same
// handlers as below (the shortlist, SelectToAsk, Closest), the same sizes and delays. When it begins, its messages,
// bytes and loads are counted, and only two events are simulated: its answer, when the reply that settled it arrives,
// and, if a reply came later (an RPC to a contact pushed off the shortlist, or one of the α still in flight), the last
// of them, so that the lookup ends when it would have. Lookups that would arm an RPC timeout (a timeout shorter than
// the round trip), reach the lookup deadline or find a value (store_keys) are left to the event queue, as are all of
// the protocol's. With a second core the lookups of the next batch are run on another thread while those before
// them are simulated (AheadBatches), each thread with its own shortlist, queue and room; the results are the same.
// RouteAheadTests compares every result file with the same runs hop by hop.

/// <summary>Kademlia: node lookups computed when the workload announces them (see above).</summary>
public sealed partial class Kademlia
{
    /// <summary>What a lookup computed ahead came to (<see cref="PlanLookup"/>).</summary>
    private struct PlannedLookupResult
    {
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

    /// <summary>An event of a lookup run ahead: an RPC arriving at <see cref="Node"/>, or its reply arriving back.</summary>
    private struct AheadEvent
    {
        public long Time, Seq;
        public bool Reply;
        public int Node;       // the node asked (the reply's sender)
        public int Round;
        public int Payload;    // a reply's contacts (index into its thread's AheadWorker.Payloads)
    }

    /// <summary>
    /// What one thread runs lookups ahead with: a shortlist of one slot, an event queue, and room for the replies of the
    /// lookup it runs (one block per RPC, all given back when the next lookup starts: a lookup sends a few dozen).
    /// </summary>
    private sealed class AheadWorker(int k, int buckets)
    {
        public readonly QueryPeerSet Peers = new(1, k);
        public readonly List<AheadEvent> Queue = [];
        public readonly List<Contact[]> Payloads = [];
        public int[] PayloadLength = new int[16];
        public int PayloadsUsed;
        public readonly Contact[] First = new Contact[k];
        public readonly Contact[] Gather = new Contact[k * buckets];

        public int NewPayload()
        {
            if (PayloadsUsed == Payloads.Count) Payloads.Add(new Contact[First.Length]);
            if (PayloadsUsed == PayloadLength.Length) Array.Resize(ref PayloadLength, 2 * PayloadLength.Length);
            return PayloadsUsed++;
        }
    }

    private AheadBatches<PlannedLookupResult>? _ahead;
    private readonly AheadWorker?[] _workers = new AheadWorker?[2];   // the simulating thread's and the other's

    bool ILookupPlanner.ChecksDeadline => true;

    private bool? _runsAhead;   // decided at the first batch: a run whose lookups cannot be run whole starts no thread

    void ILookupPlanner.Plan(ReadOnlySpan<PlannedLookup> upcoming)
    {
        if (!(_runsAhead ??= !_o.Dynamic && _store is null && NodeLookupEnded is null)) return;
        (_ahead ??= new AheadBatches<PlannedLookupResult>(RunAhead)).Plan(upcoming);
    }

    /// <summary>Runs lookups [from, to) of a batch ahead, on thread <paramref name="worker"/>; those left to the event queue keep no loads.</summary>
    private void RunAhead(AheadBatches<PlannedLookupResult>.Batch batch, int from, int to, LoadList loads, int worker)
    {
        bool plannable = NodeLookupEnded is null;   // (an observer set since the first batch)
        AheadWorker w = _workers[worker] ??= new AheadWorker(_k, _buckets.BucketCount);
        for (int i = from; i < to; i++)
        {
            ref readonly PlannedLookup lookup = ref batch.Lookups[i];
            int mark = loads.Count;
            batch.Route(i) = plannable ? PlanLookup(in lookup, loads, w) : default;
            if (!batch.Route(i).Planned) loads.Count = mark;   // counted as it runs instead
        }
    }

    /// <summary>Runs one node lookup apart from the event queue, as <see cref="Begin"/>, <see cref="Pump"/>, <see cref="OnFindNode"/> and <see cref="OnReply"/> would.</summary>
    private PlannedLookupResult PlanLookup(in PlannedLookup lookup, LoadList loads, AheadWorker w)
    {
        var result = new PlannedLookupResult { Planned = true, Answer = -1 };
        QueryPeerSet peers = w.Peers;
        List<AheadEvent> queue = w.Queue;
        queue.Clear();
        w.PayloadsUsed = 0;
        long seq = 0;
        int origin = lookup.Origin;
        Id key = lookup.Key;
        bool measured = lookup.Measured;
        Transport transport = Net.Transport;
        int originMachine = transport.MachineOf(origin);
        const int slot = 0;
        peers.Reset(slot);
        Span<Contact> first = w.First;
        int found = _buckets.Closest(origin, key, first, w.Gather);
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
                int payload = w.NewPayload();
                Contact[] contacts = w.Payloads[payload];
                int count = _buckets.Closest(ev.Node, key, contacts, w.Gather);
                w.PayloadLength[payload] = count;
                int toMachine = originMachine;
                result.Messages++;
                result.Bytes += Header + NodeRef * count;
                if (measured) loads.Add(toMachine);
                PushAhead(queue, new AheadEvent { Time = ev.Time + transport.MachineDelay(transport.MachineOf(ev.Node), toMachine), Seq = seq++, Reply = true, Node = ev.Node, Round = ev.Round, Payload = payload });
                continue;
            }
            // OnReply at the origin.
            if (answered) continue;
            int at = peers.IndexOf(slot, ev.Node);
            if (at >= 0) peers.MarkAnswered(slot, at);
            int depth = at >= 0 ? peers.Depth(slot, at) : 1;
            peers.OfferAll(slot, w.Payloads[ev.Payload].AsSpan(0, w.PayloadLength[ev.Payload]), key, depth + 1, exclude: origin);
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
                if (measured) loads.Add(to);
                PushAhead(queue, new AheadEvent { Time = now + oneWay, Seq = seq++, Node = ask[i], Round = round });
            }
            if (answered || peers.Waiting(slot) > 0) return true;
            int answer = peers.ClosestAnswered(slot);
            answered = true;
            result.AnswerAt = now;
            if (answer < 0)
            {
                // Nobody answered: only when nobody could be asked (every contact asked answers here). Otherwise, left
                // to the event queue rather than failed at the start.
                result.Failed = true;
                if (result.Messages > 0) result.Planned = false;
                return true;
            }
            result.Rounds = peers.Round(slot, answer);
            result.Answer = peers.Peer(slot, answer);
            result.Hops = peers.Depth(slot, answer);
            return true;
        }
    }

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
        ref LookupRecord rec = ref Net.Lookups[lookup];
        PlannedLookupResult plan = _ahead!.Begin(Net.Transport, in rec);
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
