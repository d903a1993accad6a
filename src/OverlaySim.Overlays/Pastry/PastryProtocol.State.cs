using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>Pastry's protocol, its state: what a node learns and forgets, repair, and the keys' copies (see PastryProtocol.cs).</summary>
public sealed partial class PastryProtocol
{
    // ---- what a node knows ----------------------------------------------------------------------------

    /// <summary>
    /// Takes <paramref name="m"/> into n's state where it belongs: its leaf set, routing table and/or neighbourhood set.
    /// A node heard of from a third party (<paramref name="firsthand"/> false: in a list another node sent) is probed
    /// before it is taken into any of them, as MSPastry does, so that dead nodes in others' stale state do not spread:
    /// the probe is counted (a ping, and a pong when it is alive) and a dead one is not taken.
    /// </summary>
    private void Learn(int n, int m, int into, bool firsthand)
    {
        if (m < 0 || m == n) return;
        int verdict = firsthand ? 1 : 0;
        if ((into & LeafSide) != 0 && LearnLeaf(n, m, ref verdict, out int nearestOn))
        {
            if (nearestOn >= 0) HandToNewNeighbour(n, m, nearestOn);
            LeafChanged(n);
        }
        if ((into & (Table | EmptyCells)) != 0) LearnTableEntry(n, m, (into & Table) != 0, ref verdict);
        if ((into & Neighbours) != 0) LearnNeighbour(n, m, ref verdict);
    }

    /// <summary>Whether m may be taken: known alive (1), known dead (-1), or probed now (0: counted, as in Probe).</summary>
    private bool Admit(int m, ref int verdict)
    {
        if (verdict == 0)
        {
            bool alive = Net.Nodes.IsAlive(m);
            Net.Transport.CountMaintenance((byte)PastryProtocolMessage.Ping, Header);
            if (alive) Net.Transport.CountMaintenance((byte)PastryProtocolMessage.Pong, Header);
            verdict = alive ? 1 : -1;
        }
        return verdict == 1;
    }

    /// <summary>
    /// Inserts m on each side of n's leaf set where it is among the |L|/2 nearest in that direction;
    /// <paramref name="nearestOn"/>: the side (0 smaller, 1 larger) on which it became n's nearest, else -1. A node goes
    /// on the side it is nearer in, and on the other side too only while n knows fewer than |L|/2 nodes (a network of
    /// at most |L|/2 + 1 nodes, where each side holds every other node and the sides overlap): in a larger network a side
    /// short of members after failures takes no node from beyond the other side, which would stretch its range around
    /// the ring.
    /// </summary>
    private bool LearnLeaf(int n, int m, ref int verdict, out int nearestOn)
    {
        nearestOn = -1;
        Span<int> leaf = _leaf.Row(n);
        bool bothShort = KnowsFewerThanHalf(leaf);
        if (!bothShort && leaf.Contains(m)) return false; // already on the side it belongs to (most of a neighbour's leaf set)
        IdSpace space = Net.Space;
        Id ccw = space.Distance(_ids[m], _ids[n]), cw = space.Distance(_ids[n], _ids[m]);
        int natural = cw <= ccw ? 1 : 0;
        if (!bothShort)
        {
            // Beyond the farthest member of a full side: not taken (no scan).
            int far = leaf[natural * _half + _half - 1];
            if (far >= 0 && (natural == 0 ? ccw >= space.Distance(_ids[far], _ids[n]) : cw >= space.Distance(_ids[n], _ids[far]))) return false;
        }
        Span<int> at = stackalloc int[2];
        for (int side = 0; side < 2; side++)
        {
            at[side] = _half;
            if (side != natural && !bothShort) continue;
            ReadOnlySpan<int> s = leaf.Slice(side * _half, _half);
            Id d = side == 0 ? ccw : cw;
            int p = 0;
            for (; p < _half; p++)
            {
                int e = s[p];
                if (e == m) { p = _half; break; }
                if (e < 0) break;
                Id de = side == 0 ? space.Distance(_ids[e], _ids[n]) : space.Distance(_ids[n], _ids[e]);
                if (d < de) break;
            }
            at[side] = p;
        }
        if ((at[0] == _half && at[1] == _half) || !Admit(m, ref verdict)) return false;
        for (int side = 0; side < 2; side++)
        {
            if (at[side] == _half) continue;
            Span<int> s = leaf.Slice(side * _half, _half);
            for (int j = _half - 1; j > at[side]; j--) s[j] = s[j - 1];
            s[at[side]] = m;
            if (at[side] == 0) nearestOn = side;
        }
        _leafAll[n] = LeafHoldsAll(n);
        _leafChanged[n] = true;
        return true;
    }

    /// <summary>Puts m in the routing-table cell it qualifies for, if that is empty or (<paramref name="compare"/>, with proximity) m is closer than its entry.</summary>
    private void LearnTableEntry(int n, int m, bool compare, ref int verdict)
    {
        int l = _g.SharedDigits(_ids[n], _ids[m]);
        if (l >= _rows) return;
        ref int cell = ref _table.At(n, l * _cols + _g.Digit(_ids[m], l));
        if (cell == m) return;
        if ((cell < 0 || (compare && _o.ProximitySamples > 0 && Net.Transport.OneWay(n, m) < Net.Transport.OneWay(n, cell))) && Admit(m, ref verdict)) cell = m;
    }

    /// <summary>
    /// Adds m to n's neighbourhood set if there is room, or in place of its farthest member if m is closer (the
    /// members' latencies are kept beside them, so that a candidate costs one latency computation).
    /// </summary>
    private void LearnNeighbour(int n, int m, ref int verdict)
    {
        if (m < 0 || m == n) return;
        Span<int> set = _nbr.Row(n);
        Span<int> latency = _nbrLatency.Row(n);
        int free = -1, far = -1, farLatency = -1;
        for (int j = 0; j < set.Length; j++)
        {
            int e = set[j];
            if (e == m) return;
            if (e < 0)
            {
                if (free < 0) free = j;
            }
            else if (latency[j] > farLatency) (far, farLatency) = (j, latency[j]);
        }
        int l = (int)Math.Min(int.MaxValue, Net.Transport.OneWay(n, m));
        int slot = free >= 0 ? free : l < farLatency ? far : -1;
        if (slot < 0 || !Admit(m, ref verdict)) return;
        set[slot] = m;
        latency[slot] = l;
    }

    /// <summary>Whether the leaf set names fewer than |L|/2 distinct nodes (never when a side is full: the common case, checked first).</summary>
    private bool KnowsFewerThanHalf(ReadOnlySpan<int> leaf)
    {
        if (leaf[_half - 1] >= 0 || leaf[_l - 1] >= 0) return false;
        int distinct = 0;
        for (int j = 0; j < _l; j++)
            if (leaf[j] >= 0 && !leaf[..j].Contains(leaf[j]) && ++distinct >= _half) return false;
        return true;
    }

    /// <summary>
    /// Whether n's leaf set is every other node: its two sides share a member, or it knows no node at all (a node alone).
    /// A node whose leaf set failed entirely but whose table is not empty routes through the table.
    /// </summary>
    private bool LeafHoldsAll(int n)
    {
        ReadOnlySpan<int> leaf = _leaf.Row(n);
        if (leaf[0] < 0 && leaf[_half] < 0) return !_table.Row(n).ContainsAnyExcept(-1);
        for (int i = 0; i < _half && leaf[i] >= 0; i++)
            for (int j = _half; j < _l && leaf[j] >= 0; j++)
                if (leaf[i] == leaf[j]) return true;
        return false;
    }

    /// <summary>Removes a node found dead (or gone) from n's state; with repair, asks for replacements as the repair option says. Returns whether n knew it.</summary>
    private bool Forget(int n, int dead, bool repair)
    {
        if (dead < 0 || dead == n || !Net.Nodes.IsAlive(n)) return false;
        bool known = false;
        int sides = 0; // the sides it was on
        Span<int> leaf = _leaf.Row(n);
        for (int side = 0; side < 2; side++)
        {
            Span<int> s = leaf.Slice(side * _half, _half);
            int at = s.IndexOf(dead);
            if (at < 0) continue;
            known = true;
            sides |= 1 << side;
            for (int j = at; j < _half - 1; j++) s[j] = s[j + 1];
            s[_half - 1] = -1;
        }
        if (known)
        {
            // Repairs only once the dead node is off both sides (it may be on both in a small network).
            if (repair && RepairsLeaves)
                for (int side = 0; side < 2; side++)
                    if ((sides & (1 << side)) != 0) RepairLeaf(n, side);
            _leafAll[n] = LeafHoldsAll(n);
            _leafChanged[n] = true;
            LeafChanged(n);
        }
        Span<int> table = _table.Row(n);
        for (int c = 0; c < _cells; c++)
        {
            if (table[c] != dead) continue;
            known = true;
            table[c] = -1;
            if (repair && RepairsTables) AskForEntry(n, c, c - c % _cols);
        }
        Span<int> set = _nbr.Row(n);
        int k = set.IndexOf(dead);
        if (k >= 0)
        {
            known = true;
            set[k] = -1;
            if (repair && RepairsTables) RepairNeighbours(n);
        }
        if (_bootstrap[n] == dead) _bootstrap[n] = -1;
        return known;
    }

    /// <summary>Whether a dead leaf is replaced (repair: all or leaf_set), and a dead table or M entry (repair: all); never once maintenance has stopped.</summary>
    private bool RepairsLeaves => _o.Repair != PastryRepair.None && _maintenance;
    private bool RepairsTables => _o.Repair == PastryRepair.All && _maintenance;

    // ---- repair ---------------------------------------------------------------------------------------

    /// <summary>A leaf on <paramref name="side"/> is gone: ask the farthest live leaf on that side (else on the other) for its leaf set.</summary>
    private void RepairLeaf(int n, int side)
    {
        ReadOnlySpan<int> leaf = _leaf.Row(n);
        int target = Farthest(leaf.Slice(side * _half, _half));
        if (target < 0) target = Farthest(leaf.Slice((1 - side) * _half, _half));
        if (target >= 0) SendMaintenanceRequest(n, target, new Event { Arg = -1, Sink = Sink, Type = (byte)PastryProtocolMessage.LeafRequest }, Header);

        static int Farthest(ReadOnlySpan<int> side)
        {
            for (int j = side.Length - 1; j >= 0; j--)
                if (side[j] >= 0) return side[j];
            return -1;
        }
    }

    /// <summary>
    /// Lazy routing-table repair of cell <paramref name="wanted"/> (row l, column d): ask the next entry from cell
    /// <paramref name="from"/> on (the rest of row l, then row l+1) for its R[l][d]; every such entry shares l digits
    /// with n, so its R[l][d] qualifies for n's. The paper goes on to later rows; two rows bound the requests for a
    /// cell that has no candidate left (deep rows are sparse).
    /// </summary>
    private void AskForEntry(int n, int wanted, int from)
    {
        ReadOnlySpan<int> table = _table.Row(n);
        int end = Math.Min(_cells, (wanted / _cols + 2) * _cols);
        for (int c = from; c < end; c++)
        {
            int e = table[c];
            if (e < 0 || c == wanted) continue;
            SendMaintenanceRequest(n, e, new Event { Arg = wanted, Aux = (ushort)c, Sink = Sink, Type = (byte)PastryProtocolMessage.RowRequest }, Header + 4);
            return;
        }
    }

    /// <summary>A member of M is gone: ask another member for its neighbourhood set.</summary>
    private void RepairNeighbours(int n)
    {
        ReadOnlySpan<int> set = _nbr.Row(n);
        int live = 0;
        foreach (int e in set) if (e >= 0) live++;
        if (live == 0) return;
        int pick = _rng.NextInt(live);
        foreach (int e in set)
        {
            if (e < 0 || pick-- > 0) continue;
            SendMaintenanceRequest(n, e, new Event { Sink = Sink, Type = (byte)PastryProtocolMessage.NeighbourRequest }, Header);
            return;
        }
    }

    /// <summary>A payload block holding n itself and its neighbourhood set.</summary>
    private int NeighbourPayload(int n)
    {
        int payload = _payloads.Allocate();
        Span<int> block = _payloads.Block(payload);
        int count = 0;
        block[count++] = n;
        foreach (int m in _nbr.Row(n)) if (m >= 0) block[count++] = m;
        _payloads.SetLength(payload, count);
        return payload;
    }

    /// <summary>A payload block holding n's leaf set (its members, once each) and n itself.</summary>
    private int LeafPayload(int n)
    {
        int payload = _payloads.Allocate();
        Span<int> block = _payloads.Block(payload);
        int count = 0;
        block[count++] = n;
        foreach (int m in _leaf.Row(n))
            if (m >= 0 && !block[..count].Contains(m)) block[count++] = m;
        _payloads.SetLength(payload, count);
        return payload;
    }

    /// <summary>
    /// Takes the nodes of a payload block that <paramref name="sender"/> sent into n's state (the sender firsthand, the
    /// others as heard of; <paramref name="skip"/> not at all) and frees it.
    /// </summary>
    private void LearnAll(int n, int payload, int sender, int into, int skip = -1)
    {
        foreach (int m in _payloads.Items(payload))
            if (m != skip) Learn(n, m, into, firsthand: m == sender);
        _payloads.Free(payload);
    }

    // ---- keys ---------------------------------------------------------------------------------------

    private ulong NearDigest(int n)
    {
        ReadOnlySpan<int> leaf = _leaf.Row(n);
        ulong h = 0x9e3779b97f4a7c15UL;
        int near = Math.Min(_half, _o.K - 1);
        for (int j = 0; j < near; j++)
        {
            h = Xoshiro256.Mix(h, (ulong)(uint)leaf[j]);
            h = Xoshiro256.Mix(h, (ulong)(uint)leaf[_half + j]);
        }
        return h;
    }

    /// <summary>n's leaf set changed: if its k-1 nearest on either side did, push the keys n is closest to where they belong.</summary>
    private void LeafChanged(int n)
    {
        if (_store is null || !_maintenance || !Net.Population.IsJoined(n)) return;
        ulong digest = NearDigest(n);
        if (digest == _digest[n]) return;
        _digest[n] = digest;
        PushKeys(n);
    }

    /// <summary>
    /// The keys n is numerically closest to, those in (Split(l1, n), Split(n, r1)], go to the others of their k closest,
    /// which n sees in its leaf set: the smaller neighbour l_i holds those closer to it than to r_{k-i}, the larger r_j
    /// those closer to it than to l_{k-j} (where that neighbour exists). In a network whose leaf set is everyone, the
    /// k-1 nearest on each side get them all.
    /// </summary>
    private void PushKeys(int n)
    {
        ReadOnlySpan<int> leaf = _leaf.Row(n);
        int k = _o.K, near = Math.Min(_half, k - 1);
        if (k == 1) return;
        Id self = _ids[n];
        Id lo = leaf[0] >= 0 ? _g.Split(_ids[leaf[0]], self) : self;
        Id hi = leaf[_half] >= 0 ? _g.Split(self, _ids[leaf[_half]]) : self;
        if (_leafAll[n]) (lo, hi) = (self, self); // every key (the whole ring, as CopyRange reads lo == hi)
        else if (lo == hi) return;                // no neighbour on either side: no range to speak for
        int lefts = Count(leaf[.._half]), rights = Count(leaf[_half..]);
        for (int i = 1; i <= near; i++)
        {
            if (i <= lefts) Push(leaf[i - 1], lo, k - i <= rights && !_leafAll[n] ? Clip(lo, hi, leaf[i - 1], leaf[_half + k - i - 1]) : hi);
            if (i <= rights)
            {
                Id from = k - i <= lefts && !_leafAll[n] ? Clip(lo, hi, leaf[k - i - 1], leaf[_half + i - 1]) : lo;
                Push(leaf[_half + i - 1], from, hi);
            }
        }

        void Push(int to, Id from, Id upTo)
        {
            if (from == upTo && !(from == lo && upTo == hi && lo == hi)) return; // an empty share (lo == hi alone means the whole ring)
            Transfer(n, to, from, upTo);
        }
    }

    private static int Count(ReadOnlySpan<int> side)
    {
        int c = 0;
        while (c < side.Length && side[c] >= 0) c++;
        return c;
    }

    /// <summary>
    /// Where the keys of a range (lo, hi] divide between a smaller node a and a larger node b, both outside it: a is
    /// closer to those in (lo, split], b to those in (split, hi], with split = Split(a, b) clipped to the range.
    /// </summary>
    private Id Clip(Id lo, Id hi, int a, int b)
    {
        Id split = _g.Split(_ids[a], _ids[b]);
        IdSpace space = Net.Space;
        if (space.InOpenClosed(split, lo, hi)) return split;
        // Outside the range: before lo (a gets none of it, b all) or at or after hi (a all, b none).
        bool before = space.Distance(_ids[a], split) <= space.Distance(_ids[a], lo);
        return before ? lo : hi;
    }

    /// <summary>Copies the keys <paramref name="from"/> holds in (lo, hi] to <paramref name="to"/>, as one KeyTransfer message (lost if it is dead).</summary>
    private void Transfer(int from, int to, Id lo, Id hi)
    {
        if (_store is null || to < 0) return;
        int keys = Net.Nodes.IsAlive(to) ? _store.CopyRange(from, to, lo, hi, Net.Space, Net.Keys) : _store.CountRange(from, lo, hi, Net.Space, Net.Keys);
        if (keys > 0) Net.Transport.CountMaintenance((byte)PastryProtocolMessage.KeyTransfer, Header + keys * (KeyBytes + _o.ValueBytes));
    }

    /// <summary>
    /// m has become n's nearest neighbour on <paramref name="side"/>: n hands it the keys it holds that m is now the
    /// closest to, as n sees m's range (between the midpoints to n and to n's next node beyond m), so that a new node
    /// gets the keys it is responsible for from the node that was.
    /// </summary>
    private void HandToNewNeighbour(int n, int m, int side)
    {
        if (_store is null || !_maintenance || !Net.Population.IsJoined(n) || _leafAll[n]) return;
        ReadOnlySpan<int> leaf = _leaf.Row(n);
        int beyond = leaf[side * _half + 1];
        if (beyond < 0) return;
        if (side == 1) Transfer(n, m, _g.Split(_ids[n], _ids[m]), _g.Split(_ids[m], _ids[beyond]));
        else Transfer(n, m, _g.Split(_ids[beyond], _ids[m]), _g.Split(_ids[m], _ids[n]));
    }
}
