"""The sentence-transformers embedding engine, on plain transformers and torch.

Modules, one concept each: `options` (registry options), `layout` (reading a sentence-transformers
folder: pooling, dense, normalise, prompt), `encoder` (the loaded model: tokenize, one forward pass),
`batcher` (dynamic batching of concurrent requests in one worker thread), `engine` (the asyncio face).
Importing this package does not import torch; `SentenceTransformersEngine.start()` does.

It runs the sentence-transformers pipeline itself rather than through the `sentence-transformers`
package, whose install adds scikit-learn and scipy (~170 MB) and ~3 s of imports that serving does not
use; the vectors are the same (the tests compare them with reference vectors).
"""

from openmaas.engines.embeddings.engine import SentenceTransformersEngine

__all__ = ["SentenceTransformersEngine"]
