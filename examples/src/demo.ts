/**
 * The `npm start` demo until autograd lands: softmax regression on a synthetic 3-class problem,
 * with the gradient written out by hand. Shows broadcasting, matmul, softmax, reductions, indexing.
 */
import * as tsr from 'tessera';

tsr.manualSeed(0);
const classes = 3, perClass = 200, features = 2;

// Three Gaussian blobs around the corners of a triangle.
const centers = tsr.tensor([[0, 3], [-3, -2], [3, -2]]);
const labels = tsr.arange(classes).view(classes, 1).expand(classes, perClass).reshape(-1);
const x = tsr.randn([classes * perClass, features]).mul(1.2).add(tsr.embedding(labels, centers));
const oneHot = tsr.eye(classes).indexSelect(0, labels);

let w = tsr.zeros(features, classes);
let b = tsr.zeros(classes);
const lr = 0.5, n = x.size(0);

console.log(`tessera demo: softmax regression, ${n} points, ${classes} classes, device ${x.device}`);
for (let epoch = 1; epoch <= 30; epoch++) {
  [w, b] = tsr.tidy(() => {
    const logits = x.matmul(w).add(b);
    const loss = logits.logSoftmax(1).mul(oneHot).sum(1).mean().neg();
    const g = logits.softmax(1).sub(oneHot).div(n); // d loss / d logits
    const nw = w.sub(x.t().matmul(g).mul(lr));
    const nb = b.sub(g.sum(0).mul(lr));
    if (epoch % 5 === 0 || epoch === 1) {
      const acc = logits.argmax(1).eq(labels).float().mean();
      console.log(`epoch ${String(epoch).padStart(2)}  loss ${(loss.itemSync() as number).toFixed(4)}  accuracy ${((acc.itemSync() as number) * 100).toFixed(1)}%`);
    }
    return [nw, nb];
  });
}
console.log('weights:', w.toString());
