//! Static tensor shapes and the broadcasting rule.

use std::fmt;

/// A static, row-major tensor shape. Rank 0 is a scalar.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Shape(pub Vec<usize>);

impl Shape {
    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.0.iter().product()
    }

    /// The extents of a shape of rank `R`.
    pub fn dims<const R: usize>(&self) -> [usize; R] {
        self.0[..].try_into().unwrap_or_else(|_| panic!("internal: {self} is not of rank {R}"))
    }

    /// Element strides of a contiguous row-major buffer of this shape.
    pub fn contiguous_strides(&self) -> Vec<usize> {
        let mut strides = vec![1; self.rank()];
        for d in (0..self.rank().saturating_sub(1)).rev() {
            strides[d] = strides[d + 1] * self.0[d + 1];
        }
        strides
    }

    /// The shape of `a op b` under NumPy broadcasting of equal-rank shapes
    /// (each pair of dims is equal or one of them is 1); `None` if they don't broadcast.
    pub fn broadcast(a: &Shape, b: &Shape) -> Option<Shape> {
        if a.rank() != b.rank() {
            return None;
        }
        a.0.iter()
            .zip(&b.0)
            .map(|(&x, &y)| match (x, y) {
                _ if x == y => Some(x),
                (1, _) => Some(y),
                (_, 1) => Some(x),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(Shape)
    }

    /// Left-pads with 1s to `rank` (how NumPy aligns shapes of different ranks).
    pub fn padded_to(&self, rank: usize) -> Shape {
        let mut dims = vec![1; rank.saturating_sub(self.rank())];
        dims.extend(&self.0);
        Shape(dims)
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{d}")?;
        }
        write!(f, "]")
    }
}

impl<const N: usize> From<[usize; N]> for Shape {
    fn from(dims: [usize; N]) -> Self {
        Shape(dims.to_vec())
    }
}

impl From<&[usize]> for Shape {
    fn from(dims: &[usize]) -> Self {
        Shape(dims.to_vec())
    }
}

impl From<Vec<usize>> for Shape {
    fn from(dims: Vec<usize>) -> Self {
        Shape(dims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        let s = |d: &[usize]| Shape(d.to_vec());
        assert_eq!(Shape::broadcast(&s(&[64, 256]), &s(&[1, 256])), Some(s(&[64, 256])));
        assert_eq!(Shape::broadcast(&s(&[64, 1]), &s(&[1, 10])), Some(s(&[64, 10])));
        assert_eq!(Shape::broadcast(&s(&[64, 3]), &s(&[64, 4])), None);
        assert_eq!(Shape::broadcast(&s(&[3]), &s(&[1, 3])), None);
        assert_eq!(s(&[2, 3, 4]).contiguous_strides(), vec![12, 4, 1]);
        assert_eq!(s(&[3]).padded_to(3), s(&[1, 1, 3]));
    }
}
