// A small blog service on Express and Mongoose, in the style of the RealWorld "Conduit" back ends:
// users, articles, comments, favorites and follows. It was written as a Mongoose app is, not to
// suit shadowdiff: a unique check by a plugin (a count, as unique validators do), a slug made by
// middleware, a comment counter kept by a post-save hook, `populate` for authors, `save()` of
// modified documents. The SDK is three lines: createShadow, shadow.mongoose(mongoose), and the
// middleware.
//
// `variant: 'candidate'` is the rewrite, with one silent bug: favoriting an article counts the
// favorite but does not record who favorited it (`favoritedBy`). Its responses are the same.
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Mongoose, Schema as SchemaType } from 'mongoose';
import type { ShadowSdk } from '../../capture/sdk';

export interface BlogOptions {
  /** A Mongoose instance of the app's own (`new mongoose.Mongoose()`), connected or not. */
  mongoose: Mongoose;
  shadow: ShadowSdk;
  variant: 'legacy' | 'candidate';
}

/** A title as a URL slug: lowercase words joined by dashes. */
export function slugify(title: string): string {
  return title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

/** The app's models on its Mongoose instance. */
export function blogModels(m: Mongoose) {
  const { Schema } = m;
  // The plugin a unique validator is: a count before validation, an error when taken.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const unique = (schema: SchemaType<any>, path: string) => {
    schema.pre('validate', async function () {
      const taken = await (this.constructor as typeof User).countDocuments({ [path]: this.get(path), _id: { $ne: this._id } });
      if (taken > 0) this.invalidate(path, `${path} is already taken`);
    });
  };
  const userSchema = new Schema({ username: { type: String, required: true, index: true }, email: { type: String, required: true }, bio: { type: String, default: '' }, following: [{ type: Schema.Types.ObjectId, ref: 'User' }] }, { timestamps: true });
  unique(userSchema, 'username');
  const User = m.model('User', userSchema);

  const articleSchema = new Schema(
    {
      slug: { type: String, index: true },
      title: { type: String, required: true },
      description: String,
      body: String,
      tagList: [String],
      author: { type: Schema.Types.ObjectId, ref: 'User', required: true },
      favoritesCount: { type: Number, default: 0 },
      favoritedBy: [{ type: Schema.Types.ObjectId, ref: 'User' }],
      commentsCount: { type: Number, default: 0 },
    },
    { timestamps: true },
  );
  articleSchema.pre('validate', function () {
    if (!this.slug) this.slug = slugify(this.title);
  });
  unique(articleSchema, 'slug');
  const Article = m.model('Article', articleSchema);

  const commentSchema = new Schema({ body: { type: String, required: true }, author: { type: Schema.Types.ObjectId, ref: 'User', required: true }, article: { type: Schema.Types.ObjectId, ref: 'Article', required: true } }, { timestamps: true });
  commentSchema.post('save', async function () {
    await Article.updateOne({ _id: this.article }, { $inc: { commentsCount: 1 } });
  });
  const Comment = m.model('Comment', commentSchema);
  return { User, Article, Comment };
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function blogApp(o: BlogOptions): express.Express {
  o.shadow.mongoose(o.mongoose);
  const { User, Article, Comment } = blogModels(o.mongoose);
  const app = express();
  app.use(express.json());
  app.use(o.shadow.middleware());
  const route = (fn: (req: Request, res: Response) => Promise<unknown>) => (req: Request, res: Response, next: NextFunction) => void fn(req, res).catch(next);
  const userNamed = async (username: unknown) => (await User.findOne({ username: String(username) })) ?? Promise.reject(new HttpError(404, `no user ${String(username)}`));
  const articleAt = async (slug: unknown) => (await Article.findOne({ slug: String(slug) })) ?? Promise.reject(new HttpError(404, `no article ${String(slug)}`));
  const articleJson = (a: InstanceType<typeof Article>, author: { username: string; bio?: string | null }) => ({
    slug: a.slug,
    title: a.title,
    description: a.description,
    body: a.body,
    tagList: a.tagList,
    favoritesCount: a.favoritesCount,
    commentsCount: a.commentsCount,
    author: { username: author.username, bio: author.bio ?? '' },
  });

  app.post('/api/users', route(async (req, res) => {
    const { username, email } = (req.body?.user ?? {}) as { username?: string; email?: string };
    const user = await User.create({ username, email });
    res.status(201).json({ user: { username: user.username, email: user.email, bio: user.bio } });
  }));

  app.post('/api/profiles/:username/follow', route(async (req, res) => {
    const [target, follower] = await Promise.all([userNamed(req.params.username), userNamed(req.body?.follower)]);
    await User.updateOne({ _id: follower._id }, { $addToSet: { following: target._id } });
    res.json({ profile: { username: target.username, following: true } });
  }));

  app.post('/api/articles', route(async (req, res) => {
    const input = (req.body?.article ?? {}) as { title?: string; description?: string; body?: string; tagList?: string[]; author?: string };
    const author = await userNamed(input.author);
    const article = await Article.create({ title: input.title, description: input.description, body: input.body, tagList: input.tagList ?? [], author: author._id });
    res.status(201).json({ article: articleJson(article, author) });
  }));

  app.get('/api/articles/:slug', route(async (req, res) => {
    const article = await Article.findOne({ slug: req.params.slug }).populate<{ author: { username: string; bio: string } }>('author', 'username bio');
    if (!article) throw new HttpError(404, `no article ${req.params.slug}`);
    res.json({ article: articleJson(article as unknown as InstanceType<typeof Article>, article.author) });
  }));

  app.put('/api/articles/:slug', route(async (req, res) => {
    const article = await articleAt(req.params.slug);
    const input = (req.body?.article ?? {}) as { body?: string; description?: string };
    if (input.body !== undefined) article.body = input.body;
    if (input.description !== undefined) article.description = input.description;
    await article.save();
    res.json({ article: articleJson(article, await User.findById(article.author).orFail()) });
  }));

  app.post('/api/articles/:slug/favorite', route(async (req, res) => {
    const [article, user] = await Promise.all([articleAt(req.params.slug), userNamed(req.body?.username)]);
    if (!article.favoritedBy.some((id) => id.equals(user._id))) {
      if (o.variant === 'legacy') article.favoritedBy.push(user._id);
      // The rewrite's bug: the count goes up, who favorited is not kept.
      article.favoritesCount += 1;
      await article.save();
    }
    res.json({ article: { slug: article.slug, favorited: true, favoritesCount: article.favoritesCount } });
  }));

  app.post('/api/articles/:slug/comments', route(async (req, res) => {
    const [article, user] = await Promise.all([articleAt(req.params.slug), userNamed(req.body?.comment?.author)]);
    const comment = await Comment.create({ body: req.body?.comment?.body, author: user._id, article: article._id });
    res.status(201).json({ comment: { body: comment.body, author: { username: user.username } } });
  }));

  app.delete('/api/articles/:slug/comments', route(async (req, res) => {
    const article = await articleAt(req.params.slug);
    const { deletedCount } = await Comment.deleteMany({ article: article._id });
    await Article.updateOne({ _id: article._id }, { $set: { commentsCount: 0 } });
    res.json({ deleted: deletedCount });
  }));

  app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof HttpError) return void res.status(err.status).json({ errors: { body: [err.message] } });
    if (err.name === 'ValidationError') return void res.status(422).json({ errors: { body: [err.message] } });
    res.status(500).json({ errors: { body: ['internal error'] } });
  });
  return app;
}
