/**
 * A port of pytorch/examples' word_language_model/data.py (BSD-3-Clause): a word dictionary and a
 * corpus of train/valid/test token ids, each line's words followed by '<eos>'.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import assert from 'node:assert';
import * as tsr from 'tessera';

export class Dictionary {
  word2idx = new Map<string, number>();
  idx2word: string[] = [];

  addWord(word: string): number {
    if (!this.word2idx.has(word)) {
      this.idx2word.push(word);
      this.word2idx.set(word, this.idx2word.length - 1);
    }
    return this.word2idx.get(word)!;
  }

  get length(): number { return this.idx2word.length; }
}

export class Corpus {
  dictionary = new Dictionary();
  train: tsr.Tensor;
  valid: tsr.Tensor;
  test: tsr.Tensor;
  constructor(dir: string) {
    this.train = this.tokenize(path.join(dir, 'train.txt'));
    this.valid = this.tokenize(path.join(dir, 'valid.txt'));
    this.test = this.tokenize(path.join(dir, 'test.txt'));
  }

  /** Tokenizes a text file. */
  tokenize(file: string): tsr.Tensor {
    assert(existsSync(file));
    const lines = readFileSync(file, 'utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    // Add words to the dictionary
    for (const line of lines) {
      const words = [...line.split(/\s+/).filter(Boolean), '<eos>'];
      for (const word of words) this.dictionary.addWord(word);
    }

    // Tokenize file content
    const idss: tsr.Tensor[] = [];
    for (const line of lines) {
      const words = [...line.split(/\s+/).filter(Boolean), '<eos>'];
      const ids: number[] = [];
      for (const word of words) ids.push(this.dictionary.word2idx.get(word)!);
      idss.push(tsr.tensor(ids, { dtype: 'int64' }));
    }
    const ids = tsr.cat(idss);
    return ids;
  }
}
