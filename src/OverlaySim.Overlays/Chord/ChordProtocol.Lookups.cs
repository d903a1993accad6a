using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>Chord's protocol, its lookups: recursive and iterative, with retries on timeouts (see ChordProtocol.cs).</summary>
public sealed partial class ChordProtocol
{
    // ---- lookups -----------------------------------------------------------------------------------------

    public override void StartLookup(int lookup)
    {
        ResetAvoid(lookup);
        _paperHops[lookup] = -1;
        _finalFrom[lookup] = -1;
        int origin = Net.Lookups[lookup].Origin;
        if (_o.Lookup == ChordLookupStyle.Recursive) Route(origin, lookup);
        else
        {
            _iterPrev[lookup] = -1;
            LocalNextHop(origin, lookup);
        }
    }

    /// <summary>Recursive step at node n: answer, hand the request to the successor, or forward it closer.</summary>
    private void Route(int n, int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        switch (Step(n, rec.Key, lookup, out int next))
        {
            case ChordStep.Unjoined:
                // Not joined yet: its bootstrap is the only node it knows.
                if (_bootstrap[n] >= 0) Forward(n, _bootstrap[n], lookup, final: false);
                else FailLookup(lookup);
                return;
            case ChordStep.Responsible:
                if (_paperHops[lookup] < 0) _paperHops[lookup] = rec.Hops;
                Answer(n, lookup);
                return;
            case ChordStep.Alone:
                _paperHops[lookup] = rec.Hops;
                Answer(n, lookup);
                return;
            case ChordStep.ToSuccessor:
                _paperHops[lookup] = rec.Hops;
                Forward(n, next, lookup, final: true);
                return;
            default:
                Forward(n, next, lookup, final: false);
                return;
        }
    }

    /// <summary>The routing step at n for a lookup (shared with iterative lookups; the converged ring takes the same step in ranks).</summary>
    private ChordStep Step(int n, Id key, int lookup, out int next)
    {
        var table = new ProtocolTable(this, lookup);
        return ChordRouting.Step(ref table, Net.Space, _ids, n, key, out next);
    }

    /// <summary>The protocol's routing state as the step reads it: entries may be empty (-1) or stale, and with
    /// forget_dead: false the lookup's dead nodes are passed over.</summary>
    private readonly struct ProtocolTable(ChordProtocol p, int lookup) : IChordRoutingTable
    {
        public int Successor(int n) => p.FirstSuccessor(n, lookup);
        public bool InOwnRange(int n, in ChordQuery q) => p.IsResponsible(n, q.Key);
        public bool InSuccessorRange(int n, int successor, in ChordQuery q) => p.Net.Space.InOpenClosed(q.Key, q.Self, p._ids[successor]);
        public int ClosestPreceding(int n, in ChordQuery q) => p.ClosestPreceding(n, q.ToKey, q.Bits, lookup);
    }

    /// <summary>The successor, or with forget_dead: false the first successor-list entry the lookup has not found dead.</summary>
    private int FirstSuccessor(int n, int lookup)
    {
        if (_avoid is null || lookup < 0) return _succ.At(n, 0);
        for (int j = 0; j < _r; j++)
        {
            int s = _succ.At(n, j);
            if (s < 0) break;
            if (!Avoided(lookup, s)) return s;
        }
        return _succ.At(n, 0);
    }

    private void ResetAvoid(int lookup)
    {
        if (_avoid is not null) _avoid.Row(lookup).Fill(-1);
    }

    /// <summary>With forget_dead: false, remembers a dead node the lookup met (the last <see cref="AvoidSlots"/> of them).</summary>
    private void Avoid(int lookup, int dead)
    {
        if (_avoid is null || dead < 0) return;
        Span<int> row = _avoid.Row(lookup);
        if (row.Contains(dead)) return;
        for (int j = row.Length - 1; j > 0; j--) row[j] = row[j - 1];
        row[0] = dead;
    }

    private bool Avoided(int lookup, int node) => _avoid is not null && lookup >= 0 && _avoid.Row(lookup).Contains(node);

    /// <summary>The dead nodes an iterative query carries (forget_dead: false), for its bytes.</summary>
    private int AvoidedCount(int lookup)
    {
        if (_avoid is null) return 0;
        int c = 0;
        foreach (int x in _avoid.Row(lookup)) if (x >= 0) c++;
        return c;
    }

    /// <summary>
    /// The request reached the node its sender (the node that handed it over as final, <c>_finalFrom</c>) took for
    /// the key's successor, that is, with the key in (sender, n]:
    /// <list type="bullet">
    /// <item>the key is in (predecessor, n], or n knows no predecessor: n is responsible and answers;</item>
    /// <item>the key is in (sender, predecessor]: a node that joined since the sender's last stabilize sits between
    /// them and owns it: pass the request back to the predecessor (the sender is kept, so repeated steps stay
    /// within (sender, n]);</item>
    /// <item>otherwise the sender was wrong about the key being before n: route it on from here.</item>
    /// </list>
    /// With <c>pass_back: false</c> n answers in every case, as find_successor's unchecked n'.successor does in the
    /// papers' simulators.
    /// </summary>
    private void FinalHop(int n, int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        int p = _pred[n];
        if (!_o.PassBack || p < 0 || p == n || Avoided(lookup, p) || IsResponsible(n, rec.Key))
        {
            Answer(n, lookup);
            return;
        }
        int sender = _finalFrom[lookup];
        if (sender >= 0 && sender != p && Net.Space.InOpenClosed(rec.Key, _ids[sender], _ids[p]))
        {
            _paperHops[lookup] = rec.Hops;
            Forward(n, p, lookup, final: true, keepSender: true);
            return;
        }
        _paperHops[lookup] = -1;
        Route(n, lookup);
    }

    private bool IsResponsible(int n, Id key)
    {
        int p = _pred[n];
        return key == _ids[n] || (p >= 0 && p != n && Net.Space.InOpenClosed(key, _ids[p], _ids[n]));
    }

    /// <summary>
    /// The node holding the request answers it: to the origin (with the value, when it holds a copy: Aux = 1), or by
    /// completing it when it is the origin.
    /// </summary>
    private void Answer(int n, int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        if (_paperHops[lookup] < 0) _paperHops[lookup] = Math.Max(0, rec.Hops - 1);
        bool value = HoldsValue(n, in rec);
        if (n == rec.Origin) Finish(lookup, n, value);
        else Net.Transport.Send(n, rec.Origin, new Event { Lookup = lookup, Arg = n, Aux = (ushort)(value ? 1 : 0), Sink = Sink, Type = (byte)ChordProtocolMessage.FindSuccessorReply },
            ChordSizes.FindSuccessorReply + (value ? ChordSizes.Key + _o.ValueBytes : 0));
    }

    /// <summary>Whether node n returns the value of a user lookup's key with its answer: it holds a copy.</summary>
    private bool HoldsValue(int n, in LookupRecord rec) => _store is not null && rec.IsUser && rec.KeyIndex >= 0 && _store.Holds(n, rec.KeyIndex);

    private void Forward(int n, int next, int lookup, bool final, bool keepSender = false)
    {
        if (final && !keepSender) _finalFrom[lookup] = n;
        uint token = ++_tokens == 0 ? ++_tokens : _tokens;
        _hopTo[lookup] = next;
        _hopToken[lookup] = token;
        SendLookupRequest(n, next, new Event { Lookup = lookup, Arg = (int)token, Aux = (ushort)(final ? 1 : 0), Sink = Sink, Type = (byte)ChordProtocolMessage.FindSuccessor }, ChordSizes.FindSuccessor);
    }

    private void OnHopTimeout(int n, int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        _hopToken[lookup] = 0;
        rec.Timeouts++;
        int dead = _hopTo[lookup];
        // A request passed back to our predecessor (FinalHop) that died: we are the key's heir, so answer.
        bool backwards = dead == _pred[n];
        if (dead == _bootstrap[n]) _bootstrap[n] = -1;
        Forget(n, dead, fingers: _o.ForgetDead);
        Avoid(lookup, dead);
        if (rec.Timeouts > _o.MaxRetries)
        {
            FailLookup(lookup);
            return;
        }
        if (backwards) FinalHop(n, lookup);
        else Route(n, lookup);
    }

    /// <summary>The origin has its answer (the lookup ends once nothing of it is in flight: a late ack, a retried hop's first copy).</summary>
    private void Finish(int lookup, int answer, bool value = false)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        switch (rec.Purpose)
        {
            case ForUser:
                if (Net.Lookups.Answer(lookup, answer, value)) _paperHopsMetric.Add(_paperHops[lookup]);
                break;
            case ForJoin:
            {
                int node = rec.Origin;
                bool current = Net.Lookups.OriginIsCurrent(lookup);
                Net.Lookups.Answer(lookup, answer);
                if (!current || Net.Population.IsJoined(node)) return;
                if (answer == node)
                {
                    // Our own join lookup came back to us: we know no other node. Try again elsewhere.
                    Rejoin(node);
                    return;
                }
                _succ.At(node, 0) = answer;
                // Take over from the successor every key that is no longer its: those outside (node, successor].
                if (answer != node) Transfer(answer, node, _ids[answer], _ids[node]);
                if (_o.CopyFingers && Net.Nodes.IsAlive(answer)) CopyFingers(answer, node);
                Net.Population.Joined(node);
                StartTimers(node);
                Stabilize(node); // learn the successor list at once rather than one period later
                break;
            }
            default:
            {
                int node = rec.Origin, level = rec.Arg;
                bool current = Net.Lookups.OriginIsCurrent(lookup);
                Net.Lookups.Answer(lookup, answer);
                if (current) SetFinger(node, level, answer == node ? -1 : answer);
                break;
            }
        }
    }

    /// <summary>Iterative: the origin works out the first hop from its own state.</summary>
    private void LocalNextHop(int origin, int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        switch (Step(origin, rec.Key, lookup, out int next))
        {
            case ChordStep.Unjoined:
                if (_bootstrap[origin] >= 0) Query(origin, _bootstrap[origin], lookup, final: false, deadHint: -1);
                else FailLookup(lookup);
                return;
            case ChordStep.Responsible:
            case ChordStep.Alone:
                _paperHops[lookup] = 0;
                Finish(lookup, origin, HoldsValue(origin, in rec));
                return;
            case ChordStep.ToSuccessor:
                _paperHops[lookup] = 0;
                _finalFrom[lookup] = origin;
                Query(origin, next, lookup, final: true, deadHint: -1);
                return;
            default:
                Query(origin, next, lookup, final: false, deadHint: -1);
                return;
        }
    }

    /// <summary>
    /// Iterative: the origin asks node <paramref name="to"/> for the next hop. A final query (to the node believed to be
    /// the key's successor) carries who believed so (<c>_finalFrom</c>, a node reference), for the predecessor check.
    /// </summary>
    private void Query(int origin, int to, int lookup, bool final, int deadHint)
    {
        uint token = (++_tokens & 0x3fff) == 0 ? ++_tokens & 0x3fff : _tokens & 0x3fff;
        _hopTo[lookup] = to;
        _hopToken[lookup] = token;
        ushort aux = (ushort)((token << 2) | (final ? 1u : deadHint >= 0 ? 2u : 0u));
        SendLookupRequest(origin, to, new Event { Lookup = lookup, Arg = final ? _finalFrom[lookup] : deadHint, Aux = aux, Sink = Sink, Type = (byte)ChordProtocolMessage.NextHopQuery },
            Header + KeyBytes + (deadHint >= 0 || final ? NodeRef : 0) + NodeRef * AvoidedCount(lookup)); // (with forget_dead: false it names the dead nodes to pass over)
    }

    /// <summary>Reply kinds of an iterative step (the low two bits of the reply's Aux).</summary>
    private const int NextForward = 0, NextHolds = 1, NextOwner = 2, NextPassBack = 3;

    /// <summary>
    /// Iterative: node n tells the origin where to go next: <see cref="NextHolds"/> (n answers), <see cref="NextOwner"/>
    /// (the next node is the key's successor), <see cref="NextPassBack"/> (asked as the key's successor, n finds the key
    /// in (sender, predecessor]: a node that joined since the sender's last stabilize owns it, so the origin asks that
    /// predecessor, keeping the sender), or <see cref="NextForward"/>. A final query is checked as a recursive lookup's
    /// last hop is (see <see cref="FinalHop"/>): without the check, a node asked as successor would answer for keys of
    /// a newer predecessor.
    /// </summary>
    private void ReplyNextHop(int n, int origin, int lookup, bool final, int sender, ushort token)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        int kind, next = -1;
        ChordStep step;
        bool passBack = false;
        int p = _pred[n];
        if (!final) step = Step(n, rec.Key, lookup, out next);
        else if (!_o.PassBack || p < 0 || p == n || Avoided(lookup, p) || IsResponsible(n, rec.Key)) step = ChordStep.Responsible; // (a predecessor the lookup found dead: n is the heir)
        else if (sender >= 0 && sender != p && Net.Space.InOpenClosed(rec.Key, _ids[sender], _ids[p]))
        {
            (step, next, passBack) = (ChordStep.ToSuccessor, p, true);
        }
        else step = Step(n, rec.Key, lookup, out next); // the sender was wrong about the key being before n: route on from here
        switch (step)
        {
            case ChordStep.ToSuccessor: kind = passBack ? NextPassBack : NextOwner; break;
            case ChordStep.Forward: kind = NextForward; break;
            default: kind = NextHolds; next = HoldsValue(n, in rec) ? 1 : 0; break; // n answers: next says whether the value comes with it
        }
        ushort aux = (ushort)((token << 2) | kind);
        int bytes = kind == NextHolds && next == 1 ? Header + NodeRef + KeyBytes + _o.ValueBytes : Header + NodeRef;
        Net.Transport.Send(n, origin, new Event { Lookup = lookup, Arg = next, Aux = aux, Sink = Sink, Type = (byte)ChordProtocolMessage.NextHopReply }, bytes);
    }

    private void OnNextHop(int lookup, int from, int next, int kind)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        rec.Hops++;
        if (kind == NextHolds)
        {
            if (_paperHops[lookup] < 0) _paperHops[lookup] = Math.Max(0, rec.Hops - 1);
            Finish(lookup, from, value: next == 1);
            return;
        }
        _iterPrev[lookup] = from;
        switch (kind)
        {
            case NextOwner:
                _finalFrom[lookup] = from;
                _paperHops[lookup] = rec.Hops;
                break;
            case NextPassBack:
                _paperHops[lookup] = rec.Hops; // the sender is kept, so repeated passes stay within (sender, from]
                break;
            default:
                _paperHops[lookup] = -1;
                break;
        }
        Query(rec.Origin, next, lookup, final: kind is NextOwner or NextPassBack, deadHint: -1);
    }

    private void OnQueryTimeout(int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        _hopToken[lookup] = 0;
        rec.Timeouts++;
        int dead = _hopTo[lookup];
        Forget(rec.Origin, dead, fingers: _o.ForgetDead);
        Avoid(lookup, dead);
        if (rec.Timeouts > _o.MaxRetries)
        {
            FailLookup(lookup);
            return;
        }
        int prev = _iterPrev[lookup];
        _paperHops[lookup] = -1;
        if (prev < 0 || prev == dead || !Net.Nodes.IsAlive(rec.Origin)) LocalNextHop(rec.Origin, lookup);
        else
        {
            // Ask the hop that pointed at the dead node again; it forgets that entry and answers anew.
            rec.Hops--;
            Query(rec.Origin, prev, lookup, final: false, deadHint: dead);
        }
    }

    /// <summary>closest_preceding_node: the farthest finger or successor-list entry in (n, key), or the successor;
    /// passing over the nodes the lookup found dead (forget_dead: false). <paramref name="bits"/> is the bit length of
    /// <paramref name="toKey"/>: a finger whose distance has more bits is too far and one with fewer precedes the key,
    /// so only a finger of equal bit length needs its id read (see <see cref="SetFinger"/>).</summary>
    private int ClosestPreceding(int n, Id toKey, int bits, int lookup)
    {
        IdSpace space = Net.Space;
        Id self = _ids[n];
        int best = -1, bestBits = 0;
        for (int j = _f - 1; j >= 0; j--)
        {
            int f = _finger.At(n, j);
            if (f < 0 || Avoided(lookup, f)) continue;
            int b = _fingerBits.At(n, j);
            if (b == 0 || b > bits || (b == bits && space.Distance(self, _ids[f]) >= toKey)) continue;
            best = f;
            bestBits = b;
            break;
        }
        for (int j = _r - 1; j >= 0; j--)
        {
            int s = _succ.At(n, j);
            if (s < 0 || s == n || Avoided(lookup, s)) continue;
            Id d = space.Distance(self, _ids[s]);
            if (!d.IsZero && d < toKey)
            {
                // s precedes the key; it beats the finger only if it is farther along the ring.
                int b = d.BitLength;
                if (best < 0 || b > bestBits || (b == bestBits && d > space.Distance(self, _ids[best]))) best = s;
                break;
            }
        }
        return best >= 0 ? best : _succ.At(n, 0);
    }
}
