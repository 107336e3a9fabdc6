// AudioWorklet: microphone audio at the context rate → PCM16 mono at 16 kHz,
// posted to the main thread as ArrayBuffers of `chunkMs` each (≤ 1 s per message).
class Pcm16Downsampler extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = (options && options.processorOptions) || {};
    this.target = opts.targetRate || 16000;
    this.ratio = sampleRate / this.target; // input samples per output sample
    this.chunk = Math.round((this.target * (opts.chunkMs || 100)) / 1000);
    this.out = new Int16Array(this.chunk);
    this.filled = 0;
    this.acc = 0; // running sum of input samples for the current output sample
    this.count = 0; // input samples summed so far
    this.pos = 0; // fractional input position of the next output boundary
  }

  process(inputs) {
    const input = inputs[0];
    if (!input || !input.length) return true;
    const channel = input[0];
    for (let i = 0; i < channel.length; i += 1) {
      this.acc += channel[i];
      this.count += 1;
      this.pos += 1;
      if (this.pos >= this.ratio) {
        this.pos -= this.ratio;
        // Box filter over the input interval: a cheap anti-aliasing low-pass.
        const v = Math.max(-1, Math.min(1, this.acc / this.count));
        this.out[this.filled] = v < 0 ? v * 0x8000 : v * 0x7fff;
        this.filled += 1;
        this.acc = 0;
        this.count = 0;
        if (this.filled === this.chunk) {
          this.port.postMessage(this.out.buffer, [this.out.buffer]);
          this.out = new Int16Array(this.chunk);
          this.filled = 0;
        }
      }
    }
    return true;
  }
}

registerProcessor("pcm16-downsampler", Pcm16Downsampler);
