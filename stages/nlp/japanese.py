"""The embedded Japanese text: a short story written for this project (public domain, CC0).

No Japanese corpus ships with an installed package in a form we can rely on offline, so the
``embedded`` Japanese source is this text. It is small on purpose (Janome tokenisation, the course's
preprocessing and a word2vec/fastText run in well under a second); it holds digits, full-width and
half-width spaces and line breaks for the preprocessing to remove, and the words of the course's
analogy 姫 − 女性 + 男性 ≈ 王子. A corpus this small gives word vectors that are mostly noise: the
analogy's neighbours are reported as they come. A real corpus comes in through the ``url`` source.
"""

TEXT = """\
昔々、ある国に一人の王子と一人の姫がいました。
王子は男性で、姫は女性です。王は男性で、王妃は女性です。
王子は毎朝　森を歩き、姫は毎朝 城の庭を歩きました。
王子は１２歳のとき、初めて馬に乗りました。姫は１０歳のとき、初めて本を書きました。
男性の騎士が王子を守り、女性の騎士が姫を守りました。
王は王子に剣を与え、王妃は姫に冠を与えました。
ある日、王子は森で道に迷いました。姫は城から王子を探しに出かけました。
姫は賢い女性で、王子は勇敢な男性でした。
二人は2024本の木が並ぶ道で出会いました。
王子は姫に感謝し、姫は王子に微笑みました。
国の人々は王子と姫を愛しました。男性も女性も、子供も大人も、二人を祝いました。
やがて王子は王になり、姫は王妃になりました。
新しい王は男性の友人と国を守り、新しい王妃は女性の友人と学校を建てました。
学校では３００人の子供が本を読み、字を書き、歌を歌いました。
王子だった王は毎朝　森を歩き、姫だった王妃は毎朝 庭を歩きました。
この国の物語は今も子供たちに読まれています。
"""
