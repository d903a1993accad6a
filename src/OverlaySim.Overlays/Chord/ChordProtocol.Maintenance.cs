using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>Chord's protocol, its maintenance: stabilize, notify, successor lists, replication, failures, fix_fingers (see ChordProtocol.cs).</summary>
public sealed partial class ChordProtocol
{
    // ---- maintenance -------------------------------------------------------------------------------------

    private void Stabilize(int n)
    {
        int s = _succ.At(n, 0);
        if (s < 0) return;
        if (s == n)
        {
            // Alone on the ring: a predecessor that notified us is our successor too.
            int p = _pred[n];
            if (p >= 0 && p != n)
            {
                _succ.At(n, 0) = p;
                Net.Transport.SendMaintenance(n, p, new Event { Sink = Sink, Type = (byte)ChordProtocolMessage.Notify }, Header + NodeRef);
            }
            return;
        }
        ushort token = (ushort)(++_rpcToken[n] & 0x7fff);
        SendMaintenanceRequest(n, s, new Event { Aux = token, Sink = Sink, Type = (byte)ChordProtocolMessage.GetPredecessor }, Header);
    }

    private void OnStabilizeReply(int n, int s, int x, ReadOnlySpan<int> successorsOfS)
    {
        // The successor's reply carries its predecessor x and its successor list, as they were when it replied.
        if (_succ.At(n, 0) != s) return;
        if (_o.Maintenance == ChordMaintenance.Separate) AdoptSuccessorList(n, s, successorsOfS, skipFirst: false);
        if (x >= 0 && x != n && Net.Space.InOpenOpen(_ids[x], _ids[n], _ids[s]))
        {
            Shift(n, x);
        }
        int succ = _succ.At(n, 0);
        Net.Transport.SendMaintenance(n, succ, new Event { Sink = Sink, Type = (byte)ChordProtocolMessage.Notify }, Header + NodeRef);
        // Replication: push the keys we are responsible for to the first `Replicas` successors that lack them
        // (one pass over our keys; one KeyTransfer message to each successor that got any). Who should hold what
        // changes only with the predecessor (our range) or the successor list (our replicas), so the push is made
        // after a stabilize that changed either, not after every one: a digest of them says when.
        int p = _pred[n];
        if (_store is not null && p >= 0 && p != n && ReplicaDigestChanged(n))
        {
            Span<int> targets = stackalloc int[Math.Min(_o.Replicas, _r)];
            int count = 0, dead = 0;
            for (int j = 0; j < targets.Length; j++)
            {
                int t = _succ.At(n, j);
                if (t < 0 || t == n) break;
                if (Net.Nodes.IsAlive(t)) targets[count++] = t;
                else dead++;
            }
            Span<int> copied = stackalloc int[count];
            _store.CopyRangeToMany(n, targets[..count], _ids[p], _ids[n], Net.Space, Net.Keys, copied);
            foreach (int c in copied)
                if (c > 0) Net.Transport.CountMaintenance((byte)ChordProtocolMessage.KeyTransfer, Header + c * (KeyBytes + _o.ValueBytes));
            // A push to a successor that has died is lost with its message, which still counts, with every key of the range.
            if (dead > 0)
            {
                int keys = _store.CountRange(n, _ids[p], _ids[n], Net.Space, Net.Keys);
                for (int d = 0; d < dead && keys > 0; d++) Net.Transport.CountMaintenance((byte)ChordProtocolMessage.KeyTransfer, Header + keys * (KeyBytes + _o.ValueBytes));
            }
        }
    }

    private bool ReplicaDigestChanged(int n)
    {
        ulong h = (ulong)(uint)_pred[n];
        for (int j = 0; j < Math.Min(_o.Replicas, _r); j++) h = Xoshiro256.Mix(h, (ulong)(uint)_succ.At(n, j));
        if (_replicaDigest[n] == h) return false;
        _replicaDigest[n] = h;
        return true;
    }

    /// <summary>succ list := [s] + s.successors[0..r-2] (or s's list itself when s is leaving: skipFirst).</summary>
    private void AdoptSuccessorList(int n, int s, ReadOnlySpan<int> successorsOfS, bool skipFirst)
    {
        Span<int> list = stackalloc int[_r];
        int count = 0;
        if (!skipFirst) list[count++] = s;
        for (int j = 0; j < successorsOfS.Length && count < _r; j++)
        {
            int e = successorsOfS[j];
            if (e < 0) break;
            if (e == n) break; // wrapped around the ring back to us
            if (e != s) list[count++] = e;
        }
        if (count == 0) return;
        for (int j = 0; j < _r; j++) _succ.At(n, j) = j < count ? list[j] : -1;
    }

    /// <summary>Puts x in front of the successor list.</summary>
    private void Shift(int n, int x)
    {
        Span<int> row = _succ.Row(n);
        for (int j = _r - 1; j > 0; j--) row[j] = row[j - 1];
        row[0] = x;
    }

    /// <summary>Drops a node found dead from every routing entry of n (with <paramref name="fingers"/> false, from all but the fingers).</summary>
    private void Forget(int n, int dead, bool fingers = true)
    {
        if (dead < 0 || dead == n) return;
        Span<int> succ = _succ.Row(n);
        int w = 0;
        for (int j = 0; j < _r; j++)
        {
            int e = succ[j];
            if (e != dead && e >= 0) succ[w++] = e;
        }
        for (int j = w; j < _r; j++) succ[j] = -1;
        if (fingers)
            for (int j = 0; j < _f; j++)
                if (_finger.At(n, j) == dead) SetFinger(n, j, -1);
        if (_pred[n] == dead) _pred[n] = -1;
        if (w == 0)
        {
            // Successor list exhausted: fall back on the nearest finger, then on the predecessor. A node that knows
            // no other node at all has lost its place in the ring (or never had one): it joins again.
            int nearest = -1;
            for (int j = 0; j < _f && nearest < 0; j++)
                if (_finger.At(n, j) >= 0 && _finger.At(n, j) != dead) nearest = _finger.At(n, j); // (kept there with forget_dead: false)
            if (nearest < 0 && _pred[n] >= 0 && _pred[n] != n) nearest = _pred[n];
            if (nearest >= 0) succ[0] = nearest;
            else if (Net.Population.IsJoined(n) && Net.Population.HasOtherJoined(n))
            {
                Net.Population.Unjoined(n);
                Rejoin(n);
            }
            else if (Net.Population.IsJoined(n)) _succ.At(n, 0) = n; // truly alone
        }
    }

    /// <summary>
    /// maintenance: ton, after each stabilize: refresh the next entry in round robin, first the successor-list entries
    /// 1 … r−1 (entry j by asking entry j−1 for its successor), then the F fingers (each as fix_fingers does). A finger
    /// that is the successor is set without a message, and the turn passes on to the next entry, so every call refreshes
    /// one entry that needs an RPC.
    /// </summary>
    private void RefreshOne(int n)
    {
        int entries = _r - 1 + _f;
        for (int step = 0; step < entries; step++)
        {
            int c = _nextFinger[n];
            _nextFinger[n] = (c + 1) % entries;
            if (c < _r - 1)
            {
                int asked = _succ.At(n, c);
                if (asked < 0 || asked == n) return;
                ushort token = (ushort)(++_entryToken[n] << 6); // a new round: an older request's late answer or timeout is ignored
                SendMaintenanceRequest(n, asked, new Event { Aux = (ushort)(token | c), Sink = Sink, Type = (byte)ChordProtocolMessage.GetSuccessor }, Header);
                return;
            }
            if (FixFinger(n, c - (_r - 1))) return; // a finger that is the successor is set without a message: go on to the next entry
        }
    }

    /// <summary>maintenance: ton: successor-list entry <paramref name="index"/> + 1 is the successor of entry <paramref name="index"/>.</summary>
    private void OnSuccessorEntry(int n, int from, int index, int successor)
    {
        if (index + 1 >= _r || _succ.At(n, index) != from) return; // the list changed since we asked
        if (successor < 0) return;
        if (successor == n)
        {
            // The ring is shorter than the list: it ends here.
            for (int j = index + 1; j < _r; j++) _succ.At(n, j) = -1;
            return;
        }
        for (int j = 0; j <= index; j++)
            if (_succ.At(n, j) == successor) return; // already on the list before this place: keep it as it is
        _succ.At(n, index + 1) = successor;
    }

    /// <summary>
    /// Refreshes finger j: a finger whose start lies in (n, successor] is the successor, with no lookup; any other is
    /// found by a find_successor of its start. True when a lookup was started.
    /// </summary>
    private bool FixFinger(int n, int j)
    {
        int succ = _succ.At(n, 0);
        if (succ < 0) return false;
        IdSpace space = Net.Space;
        Id self = _ids[n];
        int level = _firstLevel + j;
        if (succ != n && Id.Pow2(level) <= space.Distance(self, _ids[succ]))
        {
            SetFinger(n, j, succ);
            return false;
        }
        int slot = Net.Lookups.BeginInternal(n, space.FingerStart(self, level), ForFinger, arg: j);
        ResetAvoid(slot);
        _paperHops[slot] = -1;
        _finalFrom[slot] = -1;
        Route(n, slot);
        return true;
    }

    /// <summary>fix_fingers (maintenance: separate): the next finger that needs a lookup (one), or every finger (all).</summary>
    private void FixFingers(int n)
    {
        if (_succ.At(n, 0) < 0) return;
        for (int step = 0; step < _f; step++)
        {
            int j = _nextFinger[n];
            _nextFinger[n] = (j + 1) % _f;
            if (FixFinger(n, j) && _o.FixFingers == ChordFixFingers.One) return;
        }
    }
}
