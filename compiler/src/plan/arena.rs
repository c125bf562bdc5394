//! The static memory plan: every buffer gets an offset in one arena. Buffers that outlive a
//! kernel sequence (parameters, optimizer state, inputs, what entry points return) get space of
//! their own; intermediates share space when their lifetimes do not overlap.

use crate::target::ALIGN;
use std::ops::Range;

/// When a buffer is live.
#[derive(Clone, Debug, PartialEq)]
pub enum Lifetime {
    /// For the trainer's whole life.
    Persistent,
    /// During these inclusive ranges of kernel times (a kernel's inputs and output are live at
    /// its time, so a kernel never writes over what it reads).
    Within(Vec<(usize, usize)>),
}

impl Lifetime {
    fn overlaps(&self, other: &Lifetime) -> bool {
        match (self, other) {
            (Lifetime::Within(a), Lifetime::Within(b)) => {
                a.iter().any(|&(s, e)| b.iter().any(|&(t, f)| s <= f && t <= e))
            }
            _ => true,
        }
    }
}

/// Where each buffer lives in the arena, in f32 elements.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Each buffer's element range.
    pub ranges: Vec<Range<usize>>,
    /// Elements of the arena.
    pub total: usize,
}

/// Places buffers of `lens` elements: persistent ones first, then the others largest first at
/// the lowest aligned offset that no live-at-the-same-time buffer occupies.
pub fn plan(lens: &[usize], lifetimes: &[Lifetime]) -> Plan {
    let aligned = |n: usize| n.max(1).div_ceil(ALIGN) * ALIGN;
    let mut ranges = vec![0..0; lens.len()];
    let mut end = 0;
    for (i, &len) in lens.iter().enumerate() {
        if lifetimes[i] == Lifetime::Persistent {
            ranges[i] = end..end + len;
            end += aligned(len);
        }
    }
    let shared_start = end;
    let mut order: Vec<usize> = (0..lens.len()).filter(|&i| lifetimes[i] != Lifetime::Persistent).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(lens[i]), i));
    let mut placed: Vec<usize> = vec![];
    for i in order {
        let mut taken: Vec<Range<usize>> = placed
            .iter()
            .filter(|&&j| lifetimes[i].overlaps(&lifetimes[j]))
            .map(|&j| ranges[j].start..ranges[j].start + aligned(lens[j]))
            .collect();
        taken.sort_by_key(|r| r.start);
        let mut offset = shared_start;
        for r in taken {
            if offset + aligned(lens[i]) <= r.start {
                break;
            }
            offset = offset.max(r.end);
        }
        ranges[i] = offset..offset + lens[i];
        end = end.max(offset + aligned(lens[i]));
        placed.push(i);
    }
    Plan { ranges, total: end }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_live_together_never_overlap_and_others_share() {
        let within = |r: &[(usize, usize)]| Lifetime::Within(r.to_vec());
        let lens = [100, 1000, 1000, 500, 64, 2000];
        let lifetimes = [
            Lifetime::Persistent,
            within(&[(0, 1)]),
            within(&[(1, 2)]),
            within(&[(3, 4)]),
            within(&[(2, 3), (10, 11)]),
            within(&[(5, 9)]),
        ];
        let p = plan(&lens, &lifetimes);
        for i in 0..lens.len() {
            assert_eq!(p.ranges[i].start % ALIGN, 0);
            assert_eq!(p.ranges[i].len(), lens[i]);
            for j in 0..i {
                let disjoint = p.ranges[i].end <= p.ranges[j].start || p.ranges[j].end <= p.ranges[i].start;
                assert!(disjoint || !lifetimes[i].overlaps(&lifetimes[j]), "{i} and {j} overlap while both live");
            }
        }
        // 1 and 2 are live together at time 1; 3, 5 and one of them can share.
        assert!(p.total < lens.iter().map(|&n| n.div_ceil(ALIGN) * ALIGN).sum::<usize>());
        assert_eq!(
            p.ranges[5].start,
            p.ranges[1].start.min(p.ranges[2].start),
            "the largest reuses the lowest free space"
        );
    }
}
