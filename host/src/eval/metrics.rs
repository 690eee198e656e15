//! Ranking metrics, per user, as the papers report them: ROC AUC (DCUE, Table 1) and average
//! precision at a cut-off (Oramas et al., MAP@500). Checked against scikit-learn.

/// Area under the ROC curve of `scores` for binary `labels`, ties counted half (the
/// Mann-Whitney statistic, as `sklearn.metrics.roc_auc_score`). `None` when one class is
/// absent.
pub fn roc_auc(scores: &[f32], labels: &[bool]) -> Option<f64> {
    let pos = labels.iter().filter(|&&l| l).count();
    let neg = labels.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Average ranks over ties.
    let mut rank_sum_pos = 0.0f64;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_pos += avg_rank * order[i..=j].iter().filter(|&&k| labels[k]).count() as f64;
        i = j + 1;
    }
    Some((rank_sum_pos - (pos * (pos + 1)) as f64 / 2.0) / (pos * neg) as f64)
}

/// Average precision of the top `k` by score: `sum over hits at rank r <= k of precision@r,
/// over min(k, positives)` (Oramas et al.'s MAP@500; with `k` at least the item count it is
/// `sklearn.metrics.average_precision_score` on untied scores). Ties are broken by index.
pub fn average_precision_at(scores: &[f32], labels: &[bool], k: usize) -> Option<f64> {
    let pos = labels.iter().filter(|&&l| l).count();
    if pos == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let (mut hits, mut sum) = (0usize, 0.0f64);
    for (r, &i) in order.iter().take(k).enumerate() {
        if labels[i] {
            hits += 1;
            sum += hits as f64 / (r + 1) as f64;
        }
    }
    Some(sum / pos.min(k) as f64)
}

/// True-positive rates at each of `fpr_grid`'s false-positive rates (the ROC curve, stepwise).
pub fn roc_curve_at(scores: &[f32], labels: &[bool], fpr_grid: &[f64]) -> Option<Vec<f64>> {
    let pos = labels.iter().filter(|&&l| l).count() as f64;
    let neg = labels.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut points = vec![(0.0, 0.0)];
    let (mut tp, mut fp) = (0.0, 0.0);
    for &i in &order {
        if labels[i] {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        points.push((fp / neg, tp / pos));
    }
    Some(
        fpr_grid.iter().map(|&f| points.iter().filter(|p| p.0 <= f + 1e-12).map(|p| p.1).fold(0.0, f64::max)).collect(),
    )
}
